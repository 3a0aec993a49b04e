package calcom

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenOptions are the destination defaults the golden files assume.
var goldenOptions = Options{DefaultEventTypeID: 1001, DefaultTimeZone: "America/Chicago", TransferID: "tr_golden"}

// loadInput reads a golden input: an Appointment, or a transaction Bundle
// whose first Appointment is the resource and whose other entries are its
// related resources keyed by fullUrl (as the hub hands them over).
func loadInput(t *testing.T, path string) ([]byte, map[string][]byte) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		ResourceType string
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		}
	}
	if err := json.Unmarshal(src, &b); err != nil {
		t.Fatal(err)
	}
	if b.ResourceType != "Bundle" {
		return src, nil
	}
	var res []byte
	related := map[string][]byte{}
	for _, e := range b.Entry {
		if res == nil && bytes.Contains(e.Resource, []byte(`"resourceType": "Appointment"`)) {
			res = e.Resource
			continue
		}
		related[e.FullURL] = e.Resource
	}
	return res, related
}

func pretty(t *testing.T, compact []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		t.Fatal(err)
	}
	return append(out.Bytes(), '\n')
}

// Golden tests: testdata/mappings/calcom/{appointment,bundle}-*.json (FHIR
// written by this project) to the Cal.com request body, and vendor-*.json
// (Cal.com answers) to FHIR; *.golden.json beside each holds the output
// pretty-printed with sorted keys. Compacted, a request golden is exactly
// the body the connector sends.
func TestGolden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "mappings", "calcom", "*.json"))
	var n int
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.json") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			var got []byte
			base := filepath.Base(in)
			switch {
			case strings.HasPrefix(base, "vendor-slots"):
				src, _ := os.ReadFile(in)
				slots, err := Slots(src, "Cal.com event type 4242", 30*time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				got, _ = json.Marshal(slots)
			case strings.HasPrefix(base, "vendor-booking"):
				src, _ := os.ReadFile(in)
				appts, err := Appointments(src)
				if err != nil {
					t.Fatal(err)
				}
				got, _ = json.Marshal(appts)
			default:
				res, related := loadInput(t, in)
				plan, err := PlanDelivery(res, related, goldenOptions)
				if err != nil {
					t.Fatal(err)
				}
				got = plan.Body
			}
			got = pretty(t, got)
			golden := strings.TrimSuffix(in, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./mappings/calcom/ -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("mapping differs from %s:\n%s", golden, got)
			}
			// Nothing clinical reaches Cal.com, and nothing Cal.com holds
			// as free text comes back.
			for _, canary := range []string{"Zzclinical", "Zzvendor", "1990-04-01", "+1-555-0100"} {
				if bytes.Contains(got, []byte(canary)) {
					t.Errorf("output holds %q", canary)
				}
			}
			if strings.HasPrefix(base, "vendor-") && bytes.Contains(got, []byte("@")) {
				t.Errorf("FHIR read from Cal.com holds an email address")
			}
		})
	}
	if n < 8 {
		t.Fatalf("%d golden inputs, want at least 8", n)
	}
}

func TestPlanActions(t *testing.T) {
	cases := []struct {
		file   string
		action Action
		uid    string
	}{
		{"appointment-contained-patient.json", Create, ""},
		{"bundle-related-patient.json", Create, ""},
		{"appointment-reschedule.json", Reschedule, "bk3Xq9TzR2mW7pLs"},
		{"appointment-cancel.json", Cancel, "bk3Xq9TzR2mW7pLs"},
	}
	for _, c := range cases {
		res, related := loadInput(t, filepath.Join("..", "..", "testdata", "mappings", "calcom", c.file))
		p, err := PlanDelivery(res, related, goldenOptions)
		if err != nil || p.Action != c.action || p.UID != c.uid {
			t.Errorf("%s: %+v %v, want %s %q", c.file, p, err, c.action, c.uid)
		}
	}
}

// A reschedule names the hub's Cal.com user as rescheduledBy when one is
// configured, so that the hub can tell its own reschedules from the
// attendee's; without one the body is the golden file's.
func TestRescheduledBy(t *testing.T) {
	res, related := loadInput(t, filepath.Join("..", "..", "testdata", "mappings", "calcom", "appointment-reschedule.json"))
	cases := []struct {
		by, want string
	}{
		{"", `{"reschedulingReason":"Rescheduled through Switchboard","start":"2030-03-06T14:15:00Z"}`},
		{"scheduler@clinic.example", `{"rescheduledBy":"scheduler@clinic.example","reschedulingReason":"Rescheduled through Switchboard","start":"2030-03-06T14:15:00Z"}`},
	}
	for _, c := range cases {
		o := goldenOptions
		o.RescheduledBy = c.by
		p, err := PlanDelivery(res, related, o)
		if err != nil || string(p.Body) != c.want {
			t.Errorf("rescheduledBy %q: %s %v, want %s", c.by, p.Body, err, c.want)
		}
	}
}

func TestBookingFields(t *testing.T) {
	const pat = `{"resourceType":"Patient","id":"p","name":[{"given":["A"],"family":"B"}],"telecom":[{"system":"email","value":"a@x.example"}]}`
	cases := []struct {
		name, appt string
		related    map[string][]byte
		opts       Options
		want       string
	}{
		{"minutesDuration when there is no end; UTC start; default tz and event type",
			`{"resourceType":"Appointment","status":"booked","start":"2030-01-01T10:00:00+02:00","minutesDuration":15,"contained":[` + pat + `],"participant":[{"actor":{"reference":"#p"}}]}`,
			nil, Options{DefaultEventTypeID: 7, DefaultTimeZone: "UTC"},
			`{"attendee":{"email":"a@x.example","name":"A B","timeZone":"UTC"},"eventTypeId":7,"lengthInMinutes":15,"metadata":{"switchboard_origin":"switchboard"},"start":"2030-01-01T08:00:00Z"}`},
		{"related Patient by its reference; event type from serviceType beats the default",
			`{"resourceType":"Appointment","id":"a1","status":"booked","start":"2030-01-01T10:00:00Z","serviceType":[{"coding":[{"system":"https://cal.com/event-type","code":"99"}]}],"participant":[{"actor":{"reference":"Patient/p"}}]}`,
			map[string][]byte{"Patient/p": []byte(pat)}, Options{DefaultEventTypeID: 7, DefaultTimeZone: "UTC", TransferID: "tr_1"},
			`{"attendee":{"email":"a@x.example","name":"A B","timeZone":"UTC"},"eventTypeId":99,"metadata":{"fhir_appointment_id":"Appointment/a1","switchboard_origin":"switchboard","switchboard_transfer":"tr_1"},"start":"2030-01-01T10:00:00Z"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := PlanDelivery([]byte(c.appt), c.related, c.opts)
			if err != nil || string(p.Body) != c.want {
				t.Fatalf("got  %s %v\nwant %s", p.Body, err, c.want)
			}
		})
	}
}

// Errors say what is missing and never quote the resource.
func TestBookingErrors(t *testing.T) {
	const head = `{"resourceType":"Appointment","status":"booked","comment":"Zzsecret",`
	const patNoEmail = `{"resourceType":"Patient","id":"p","name":[{"text":"Zzsecret Name"}],"telecom":[{"system":"phone","value":"Zzsecret-phone"}]}`
	const pat = `{"resourceType":"Patient","id":"p","name":[{"text":"Zzsecret Name"}],"telecom":[{"system":"email","value":"zzsecret@x.example"}]}`
	opts := Options{DefaultEventTypeID: 1, DefaultTimeZone: "UTC"}
	cases := []struct {
		name, appt string
		opts       Options
		want       error
	}{
		{"not JSON", `{"resourceType":`, opts, ErrNotAppointment},
		{"not an Appointment", `{"resourceType":"Patient"}`, opts, ErrNotAppointment},
		{"no start", head + `"participant":[{"actor":{"reference":"#p"}}],"contained":[` + pat + `]}`, opts, ErrNoStart},
		{"end before start", head + `"start":"2030-01-01T10:00:00Z","end":"2030-01-01T09:00:00Z","participant":[{"actor":{"reference":"#p"}}],"contained":[` + pat + `]}`, opts, ErrEndBeforeStart},
		{"no event type", head + `"start":"2030-01-01T10:00:00Z","participant":[{"actor":{"reference":"#p"}}],"contained":[` + pat + `]}`, Options{DefaultTimeZone: "UTC"}, ErrNoEventType},
		{"no patient email", head + `"start":"2030-01-01T10:00:00Z","participant":[{"actor":{"reference":"#p"}}],"contained":[` + patNoEmail + `]}`, opts, ErrNoEmail},
		{"no time zone", head + `"start":"2030-01-01T10:00:00Z","participant":[{"actor":{"reference":"#p"}}],"contained":[` + pat + `]}`, Options{DefaultEventTypeID: 1}, ErrNoTimeZone},
		{"patient not found", head + `"start":"2030-01-01T10:00:00Z","participant":[{"actor":{"reference":"Patient/elsewhere"}}]}`, opts, ErrNoPatient},
		{"cancelled without a booking", `{"resourceType":"Appointment","status":"cancelled","start":"2030-01-01T10:00:00Z","participant":[]}`, opts, ErrNoBooking},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := PlanDelivery([]byte(c.appt), nil, c.opts)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if strings.Contains(strings.ToLower(err.Error()), "zzsecret") {
				t.Fatalf("the error quotes the resource: %v", err)
			}
		})
	}
}

func TestLanguage(t *testing.T) {
	cases := map[string]string{`"pt-BR"`: "pt-BR", `"pt-PT"`: "pt", `"en-US"`: "en", `"tlh"`: "", `"zh-CN"`: "zh-CN"}
	for code, want := range cases {
		var p patient
		_ = json.Unmarshal([]byte(`{"communication":[{"language":{"coding":[{"code":`+code+`}]}}]}`), &p)
		if got := language(p); got != want {
			t.Errorf("%s: %q, want %q", code, got, want)
		}
	}
}

func TestReverseErrors(t *testing.T) {
	if _, err := Appointments([]byte(`{"status":"success","data":{"uid":"x","status":"exploded","start":"2030-01-01T00:00:00Z","end":"2030-01-01T01:00:00Z"}}`)); err == nil {
		t.Error("an unknown status must fail, not guess")
	}
	if _, err := Appointments([]byte(`{"status":"error"}`)); !errors.Is(err, ErrNotBooking) {
		t.Errorf("no data: %v", err)
	}
	if _, err := Slots([]byte(`{"data":{"2030-01-01":["2030-01-01T00:00:00Z"]}}`), "s", 0); err == nil {
		t.Error("a slot without end or length must fail")
	}
	if got, err := Slots([]byte(`{"status":"success","data":{}}`), "s", time.Minute); err != nil || len(got) != 0 {
		t.Errorf("no slots: %v %v", got, err)
	}
}

// The reverse mappings parse what Cal.com answers: they must not panic on
// anything, and a failure must not quote the answer.
func FuzzAppointments(f *testing.F) {
	for _, n := range []string{"vendor-booking.json", "vendor-bookings-list.json"} {
		b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "mappings", "calcom", n))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := Appointments(body)
		if err != nil && strings.Contains(err.Error(), "Zz") {
			t.Fatalf("the error quotes the answer: %v", err)
		}
		for _, a := range out {
			if !json.Valid(a) {
				t.Fatalf("invalid JSON: %s", a)
			}
		}
	})
}

func FuzzSlots(f *testing.F) {
	for _, n := range []string{"vendor-slots-range.json", "vendor-slots-time.json"} {
		b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "mappings", "calcom", n))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := Slots(body, "s", time.Minute)
		if err != nil && strings.Contains(err.Error(), "Zz") {
			t.Fatalf("the error quotes the answer: %v", err)
		}
		for _, s := range out {
			if !json.Valid(s) {
				t.Fatalf("invalid JSON: %s", s)
			}
		}
	})
}
