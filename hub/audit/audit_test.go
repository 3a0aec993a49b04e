package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/audit"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The subject reference and document the tests plant: neither may appear
// in any response, only their keyed hashes.
const (
	subjectRef = "Patient/canary-8675309"
	document   = `{"resourceType":"Patient","id":"canary-8675309","name":[{"family":"Canaryname"}]}`
)

var base = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

type hub struct {
	t    testing.TB
	st   store.Store
	log  *transferlog.Log
	mac  seal.MAC
	e    *echo.Echo
	subj string // SubjectHash of subjectRef
	dig  string // Digest of document
}

// newHub seeds a log of 12 rows: for i = 1..12, an accept (odd i) from
// "ehr" or a delivery attempt (even i) to "payments", each at base + i
// minutes; deliveries 4 and 8 carried document about subjectRef.
func newHub(t testing.TB, d store.Dialect) *hub {
	t.Helper()
	mac, err := seal.NewMAC([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	st := testenv.Store(t, d)
	h := &hub{t: t, st: st, mac: mac, log: &transferlog.Log{Store: st, MAC: mac}, e: echo.New(),
		subj: transferlog.SubjectHash(mac, subjectRef)}
	if h.dig, err = transferlog.Digest(mac, []byte(document)); err != nil {
		t.Fatal(err)
	}
	var rows []transferlog.Row
	for i := 1; i <= 12; i++ {
		r := transferlog.Row{At: base.Add(time.Duration(i) * time.Minute), Event: transferlog.EventAccepted,
			TransferID: fmt.Sprintf("tr_%02d", i), Direction: transferlog.Inbound, Source: "ehr", ResourceType: "Patient",
			Interaction: "create", Outcome: "accepted", Actor: "cl_app", Detail: map[string]any{"entries": 1}}
		if i%2 == 0 {
			r = transferlog.Row{At: r.At, Event: transferlog.EventDeliveryAttempt, TransferID: r.TransferID,
				Direction: transferlog.Outbound, Source: "switchboard", Destination: "payments", ResourceType: "Appointment",
				Interaction: "update", Outcome: "delivered", HTTPStatus: 200, Attempt: 1, LatencyMS: 42, Actor: "switchboard",
				Detail: map[string]any{"entry": 0}}
			if i%4 == 0 {
				r.SubjectHash, r.PayloadDigest, r.Outcome, r.ErrorClass = h.subj, h.dig, "failed", "permanent"
			}
		}
		rows = append(rows, r)
	}
	if err := transferlog.Stage(context.Background(), st.DB(), rows...); err != nil {
		t.Fatal(err)
	}
	h.flush()
	(&audit.Handlers{Log: h.log, MAC: mac, Actor: func(echo.Context) string { return "cl_auditor" }}).Register(h.e.Group("/audit"))
	return h
}

func (h *hub) flush() {
	h.t.Helper()
	if err := h.log.Flush(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *hub) do(method, target, body string) response {
	h.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.e.ServeHTTP(rec, req)
	r := response{rec.Code, rec.Header(), rec.Body.Bytes()}
	// Nothing a caller reads holds the subject reference or the document.
	for _, canary := range []string{"canary-8675309", "Canaryname"} {
		if bytes.Contains(r.body, []byte(canary)) {
			h.t.Fatalf("%s %s: the response holds %q", method, target, canary)
		}
	}
	return r
}

type page struct {
	Items []struct {
		Seq           int64          `json:"seq"`
		At            string         `json:"at"`
		Event         string         `json:"event"`
		SubjectHash   string         `json:"subject_hash"`
		PayloadDigest string         `json:"payload_digest"`
		HTTPStatus    int            `json:"http_status"`
		Detail        map[string]any `json:"detail"`
		Hash          string         `json:"hash"`
		PrevHash      string         `json:"prev_hash"`
	} `json:"items"`
	Next string `json:"next"`
}

func (h *hub) page(target string) page {
	h.t.Helper()
	r := h.do(http.MethodGet, target, "")
	if r.status != http.StatusOK {
		h.t.Fatalf("%s: %d %s", target, r.status, r.body)
	}
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (p page) seqs() []int64 {
	var out []int64
	for _, it := range p.Items {
		out = append(out, it.Seq)
	}
	return out
}

func TestLogFilters(t *testing.T) {
	at := func(i int) string { return base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano) }
	cases := []struct {
		query string
		want  []int64
	}{
		{"", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{"event=delivery_attempt", []int64{2, 4, 6, 8, 10, 12}},
		{"event=delivery_attempt&outcome=failed", []int64{4, 8, 12}},
		{"connector=ehr", []int64{1, 3, 5, 7, 9, 11}},
		{"connector=payments&outcome=delivered", []int64{2, 6, 10}},
		{"source=switchboard&destination=payments&after=8", []int64{10, 12}},
		{"resource_type=Appointment&actor=switchboard&limit=2", []int64{2, 4}},
		{"transfer_id=tr_07", []int64{7}},
		{"subject=" + subjectRef, []int64{4, 8, 12}},
		{"subject=Patient/other", nil},
		{"from=" + at(10) + "&to=" + at(12), []int64{10, 11}},
		{"to=2026-03-01T12:03:00Z", []int64{1, 2}},
		{"from=2026-03-01T13:00:00%2B01:00", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{"event=", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
	}
	h := newHub(t, store.SQLite)
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			p := h.page("/audit/log?" + tc.query)
			if got := p.seqs(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("rows %v, want %v", got, tc.want)
			}
		})
	}
	// Subject rows show the hash, times are RFC 3339 with their fraction.
	p := h.page("/audit/log?transfer_id=tr_04")
	it := p.Items[0]
	if it.SubjectHash != h.subj || it.PayloadDigest != h.dig || it.At != "2026-03-01T12:04:00.123456Z" || it.HTTPStatus != 200 ||
		it.Detail["entry"] != float64(0) || it.Hash == "" || it.PrevHash == "" {
		t.Fatalf("row 4: %+v", it)
	}
}

func TestLogPagination(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			h := newHub(t, d)
			var got []int64
			target := "/audit/log?event=delivery_attempt&limit=4"
			for pages := 0; ; pages++ {
				if pages > 5 {
					t.Fatal("no end to the pages")
				}
				p := h.page(target)
				got = append(got, p.seqs()...)
				if p.Next == "" {
					if len(p.Items) == 0 {
						t.Fatal("the last cursor led to an empty page")
					}
					break
				}
				target = "/audit/log?event=delivery_attempt&limit=4&cursor=" + p.Next
			}
			if fmt.Sprint(got) != "[2 4 6 8 10 12]" {
				t.Fatalf("pages gave %v", got)
			}
			// A page that ends exactly at the last row has no next page.
			if p := h.page("/audit/log?event=delivery_attempt&limit=6"); p.Next != "" || len(p.Items) != 6 {
				t.Fatalf("exact page: next %q, %d items", p.Next, len(p.Items))
			}
		})
	}
}

func TestExport(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			h := newHub(t, d)
			r := h.do(http.MethodGet, "/audit/export?format=ndjson&destination=payments&outcome=failed", "")
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/x-ndjson" ||
				!strings.HasPrefix(r.header.Get("Content-Disposition"), `attachment; filename="switchboard-audit-`) {
				t.Fatalf("ndjson: %d %v", r.status, r.header)
			}
			lines := strings.Split(strings.TrimSuffix(string(r.body), "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("%d lines: %s", len(lines), r.body)
			}
			for i, line := range lines {
				var row map[string]any
				if err := json.Unmarshal([]byte(line), &row); err != nil {
					t.Fatal(err)
				}
				if row["seq"] != float64(4*(i+1)) || row["subject_hash"] != h.subj || row["outcome"] != "failed" {
					t.Fatalf("line %d: %v", i, row)
				}
				if _, ok := row["transfer_id"]; !ok {
					t.Fatalf("line %d lacks transfer_id", i)
				}
				if _, ok := row["direction"]; !ok {
					t.Fatalf("line %d lacks direction", i)
				}
			}
			r = h.do(http.MethodGet, "/audit/export?format=csv&connector=ehr", "")
			if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") ||
				!strings.HasSuffix(r.header.Get("Content-Disposition"), `.csv"`) {
				t.Fatalf("csv: %d %v", r.status, r.header)
			}
			recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 7 || strings.Join(recs[0], ",") != "seq,at,event,transfer_id,direction,source,destination,resource_type,"+
				"interaction,subject_hash,outcome,http_status,attempt,latency_ms,error_class,actor,payload_digest,detail,prev_hash,hash" {
				t.Fatalf("csv: %d records, header %v", len(recs), recs[0])
			}
			if first := recs[1]; first[0] != "1" || first[2] != "accepted" || first[17] != `{"entries":1}` || first[11] != "" || first[19] == "" {
				t.Fatalf("csv row 1: %q", first)
			}
			// Every row, by default as NDJSON.
			r = h.do(http.MethodGet, "/audit/export", "")
			if n := bytes.Count(r.body, []byte("\n")); r.status != http.StatusOK || n < 12 {
				t.Fatalf("export all: %d, %d lines", r.status, n)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	h := newHub(t, store.SQLite)
	type result struct {
		OK      bool  `json:"ok"`
		Rows    int64 `json:"rows"`
		Pending int64 `json:"pending"`
		Head    struct {
			Seq  int64  `json:"seq"`
			Hash string `json:"hash"`
		} `json:"head"`
		Break *struct {
			Seq    int64  `json:"seq"`
			Reason string `json:"reason"`
		} `json:"break"`
	}
	verify := func(query string) result {
		t.Helper()
		r := h.do(http.MethodGet, "/audit/verify"+query, "")
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var v result
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatal(err)
		}
		if v.OK != (v.Break == nil) {
			t.Fatalf("ok %v with break %+v", v.OK, v.Break)
		}
		return v
	}
	v := verify("")
	if !v.OK || v.Rows != 12 || v.Head.Seq != 12 || v.Head.Hash == "" || v.Pending != 0 {
		t.Fatalf("untouched: %+v", v)
	}
	// The verify's own audit_read row is staged, then chained.
	if v := verify(""); !v.OK || v.Pending != 1 {
		t.Fatalf("second verify: %+v", v)
	}
	h.flush()
	head := verify("").Head
	if v := verify(fmt.Sprintf("?checkpoint_seq=%d&checkpoint_hash=%s", head.Seq, head.Hash)); !v.OK {
		t.Fatalf("checkpoint of the head: %+v", v)
	}
	if v := verify(fmt.Sprintf("?checkpoint_seq=%d&checkpoint_hash=other", head.Seq)); v.OK || v.Break.Seq != head.Seq {
		t.Fatalf("wrong checkpoint: %+v", v)
	}
	if _, err := h.st.DB().Exec(context.Background(), `UPDATE switchboard_log SET outcome = 'delivered' WHERE seq = 8`); err != nil {
		t.Fatal(err)
	}
	if v := verify(""); v.OK || v.Break.Seq != 8 || !strings.Contains(v.Break.Reason, "altered") || v.Rows != 8 {
		t.Fatalf("altered row 8: %+v", v)
	}
}

func TestDigest(t *testing.T) {
	h := newHub(t, store.SQLite)
	// The same document, laid out otherwise.
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(document), "", "    "); err != nil {
		t.Fatal(err)
	}
	r := h.do(http.MethodPost, "/audit/digest", pretty.String())
	var out struct {
		Digest  string `json:"digest"`
		Matches []struct {
			Seq   int64  `json:"seq"`
			Event string `json:"event"`
		} `json:"matches"`
	}
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	if out.Digest != h.dig || len(out.Matches) != 3 || out.Matches[0].Seq != 4 || out.Matches[0].Event != transferlog.EventDeliveryAttempt {
		t.Fatalf("%+v", out)
	}
	r = h.do(http.MethodPost, "/audit/digest", `{"resourceType":"Patient","id":"someone-else"}`)
	if err := json.Unmarshal(r.body, &out); err != nil || r.status != http.StatusOK || len(out.Matches) != 0 || out.Digest == h.dig {
		t.Fatalf("other document: %d %s", r.status, r.body)
	}
}

func TestBadRequests(t *testing.T) {
	h := newHub(t, store.SQLite)
	cases := []struct {
		method, target, body string
		status               int
		expression           string // "" when the issue names none
	}{
		{"GET", "/audit/log?from=yesterday", "", 400, "from"},
		{"GET", "/audit/log?to=2026-03-01", "", 400, "to"},
		{"GET", "/audit/log?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "", 400, "to"},
		{"GET", "/audit/log?after=-1", "", 400, "after"},
		{"GET", "/audit/log?after=x", "", 400, "after"},
		{"GET", "/audit/log?limit=0", "", 400, "limit"},
		{"GET", "/audit/log?limit=1001", "", 400, "limit"},
		{"GET", "/audit/log?limit=ten", "", 400, "limit"},
		{"GET", "/audit/log?cursor=not-a-cursor", "", 400, "cursor"},
		{"GET", "/audit/log?event=a&event=b", "", 400, "event"},
		{"GET", "/audit/log?Patient%2Fcanary-8675309=1", "", 400, ""},
		{"GET", "/audit/log?format=csv", "", 400, ""},
		{"GET", "/audit/export?format=xml", "", 400, "format"},
		{"GET", "/audit/export?limit=5", "", 400, ""},
		{"GET", "/audit/export?to=canary-8675309", "", 400, "to"},
		{"GET", "/audit/verify?checkpoint_seq=3", "", 400, "checkpoint_hash"},
		{"GET", "/audit/verify?checkpoint_hash=abc", "", 400, "checkpoint_seq"},
		{"GET", "/audit/verify?checkpoint_seq=0&checkpoint_hash=abc", "", 400, "checkpoint_seq"},
		{"GET", "/audit/verify?event=poll", "", 400, ""},
		{"POST", "/audit/digest", "", 400, ""},
		{"POST", "/audit/digest", `{"name":"canary-8675309"`, 400, ""},
		{"POST", "/audit/digest", `{"a":1} {"b":2}`, 400, ""},
		{"POST", "/audit/digest", `{"pad":"` + strings.Repeat("x", 1<<20) + `"}`, 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.target[:min(len(tc.target), 60)], func(t *testing.T) {
			r := h.do(tc.method, tc.target, tc.body)
			if r.status != tc.status || r.header.Get("Content-Type") != "application/fhir+json" {
				t.Fatalf("%d %s: %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			var oo struct {
				ResourceType string `json:"resourceType"`
				Issue        []struct {
					Code        string   `json:"code"`
					Expression  []string `json:"expression"`
					Diagnostics string   `json:"diagnostics"`
				} `json:"issue"`
			}
			if err := json.Unmarshal(r.body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 {
				t.Fatalf("%s", r.body)
			}
			got := ""
			if len(oo.Issue[0].Expression) > 0 {
				got = oo.Issue[0].Expression[0]
			}
			if got != tc.expression || oo.Issue[0].Diagnostics == "" {
				t.Fatalf("issue %+v, want expression %q", oo.Issue[0], tc.expression)
			}
		})
	}
	// Refused requests read nothing and log nothing.
	if v, _ := h.log.Verify(context.Background(), nil); v.Pending != 0 {
		t.Fatalf("%d audit_read rows staged by refused requests", v.Pending)
	}
}

// TestReadsAreLogged: each read appends an audit_read row naming the
// caller, the route, the filters used (never their values) and the rows.
func TestReadsAreLogged(t *testing.T) {
	h := newHub(t, store.SQLite)
	h.page("/audit/log?event=delivery_attempt&subject=" + subjectRef + "&limit=2")
	h.do(http.MethodGet, "/audit/export?format=csv&connector=payments&from=2026-01-01T00:00:00Z", "")
	h.do(http.MethodGet, "/audit/verify", "")
	h.do(http.MethodPost, "/audit/digest", document)
	h.flush()
	rows, err := h.log.Query(context.Background(), transferlog.Filter{Event: transferlog.EventAuditRead}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		route   string
		filters string
		rows    float64
	}{
		{"log", "[event subject]", 2},
		{"export", "[from connector]", 6},
		{"verify", "[]", 12},
		{"digest", "[payload_digest]", 3},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d audit_read rows", len(rows))
	}
	for i, w := range want {
		r := rows[i]
		if r.Actor != "cl_auditor" || r.Detail["route"] != w.route || fmt.Sprint(r.Detail["filters"]) != w.filters || r.Detail["rows"] != w.rows {
			t.Errorf("row %d: actor %s detail %v, want %+v", i, r.Actor, r.Detail, w)
		}
		b, _ := json.Marshal(r)
		for _, leak := range []string{"canary", h.subj, h.dig, "payments", "2026-01-01"} {
			if bytes.Contains(b, []byte(leak)) {
				t.Errorf("row %d holds a filter value %q: %s", i, leak, b)
			}
		}
	}
}
