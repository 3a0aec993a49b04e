package stripe

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/validation"
)

var eventDir = filepath.Join("..", "..", "testdata", "mappings", "stripe", "webhook")

func prettyJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	return append(out.Bytes(), '\n')
}

// Event goldens: testdata/mappings/stripe/webhook/webhook-*.json (Stripe
// event bodies, fake people) to *.golden.json (the event's fields and the
// PaymentNotice, keys sorted). They live in a folder of their own because
// TestGolden reads every *.json beside the Customer goldens. -update
// rewrites them.
func TestEventGolden(t *testing.T) {
	cases := []struct {
		file     string
		key      string // system|value the hub upserts on
		amount   string
		currency string
		refund   bool
	}{
		{"webhook-payment-intent-succeeded.json", PaymentIntentSystem + "|pi_3QxPi1Lkdz2E0aBc1aQwErTy", "125.00", "USD", false},
		// The Charge and the Invoice of that same payment share its key.
		{"webhook-charge-succeeded.json", PaymentIntentSystem + "|pi_3QxPi1Lkdz2E0aBc1aQwErTy", "125.00", "USD", false},
		{"webhook-invoice-paid.json", PaymentIntentSystem + "|pi_3QxPi1Lkdz2E0aBc1aQwErTy", "125.00", "USD", false},
		{"webhook-charge-refunded.json", RefundSystem + "|ch_3QxPi1Lkdz2E0aBc1aChg001", "25.00", "USD", true},
		{"webhook-payment-intent-jpy-guest.json", PaymentIntentSystem + "|pi_3QxQj5Lkdz2E0aBc0JpyPi01", "5000", "JPY", false},
	}
	inputs, _ := filepath.Glob(filepath.Join(eventDir, "webhook-*.json"))
	n := 0
	for _, in := range inputs {
		if !strings.HasSuffix(in, ".golden.json") {
			n++
		}
	}
	if n != len(cases) {
		t.Fatalf("%d event inputs, %d cases: give every input a case", n, len(cases))
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			in := filepath.Join(eventDir, c.file)
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := PaymentNoticeFromEvent(src, EventOptions{Recipient: "Lakeside Family Clinic"})
			if err != nil {
				t.Fatal(err)
			}
			fields, _ := json.Marshal(map[string]any{
				"id": ev.ID, "type": ev.Type, "keySystem": ev.KeySystem, "keyValue": ev.KeyValue, "refund": ev.Refund,
				"customer": ev.Customer, "origin": ev.Origin, "fromHub": ev.FromHub(), "invoiceId": ev.InvoiceID,
				"transferId": ev.TransferID, "paymentNotice": ev.PaymentNotice,
			})
			got := prettyJSON(t, fields)
			golden := strings.TrimSuffix(in, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./mappings/stripe/ -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("mapping differs from %s:\n%s", golden, got)
			}
			var pn struct {
				Identifier []struct{ System, Value string }
				Amount     struct {
					Value    json.Number
					Currency string
				}
			}
			_ = json.Unmarshal(ev.PaymentNotice, &pn)
			if k := ev.KeySystem + "|" + ev.KeyValue; k != c.key || pn.Identifier[0].System+"|"+pn.Identifier[0].Value != k {
				t.Errorf("key %s (first identifier %+v), want %s", k, pn.Identifier[0], c.key)
			}
			if string(pn.Amount.Value) != c.amount || pn.Amount.Currency != c.currency || ev.Refund != c.refund {
				t.Errorf("amount %s %s refund=%v, want %s %s %v", pn.Amount.Value, pn.Amount.Currency, ev.Refund, c.amount, c.currency, c.refund)
			}
			// Nothing Stripe holds about the person comes through.
			for _, leak := range []string{"Zzclinical", "@", "Robin", "60601"} {
				if bytes.Contains(ev.PaymentNotice, []byte(leak)) {
					t.Errorf("the PaymentNotice holds %q", leak)
				}
			}
		})
	}
}

// Every event golden's PaymentNotice is valid FHIR R4 as the hub checks it
// at its boundary (required status, payment, recipient, amount, created).
func TestEventGoldenIsValidFHIR(t *testing.T) {
	v, err := validation.New()
	if err != nil {
		t.Fatal(err)
	}
	goldens, _ := filepath.Glob(filepath.Join(eventDir, "webhook-*.golden.json"))
	if len(goldens) == 0 {
		t.Fatal("no event goldens")
	}
	for _, g := range goldens {
		t.Run(filepath.Base(g), func(t *testing.T) {
			b, err := os.ReadFile(g)
			if err != nil {
				t.Fatal(err)
			}
			var ev struct {
				PaymentNotice json.RawMessage `json:"paymentNotice"`
			}
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Resource(ev.PaymentNotice, "PaymentNotice"); err != nil {
				t.Fatalf("invalid FHIR R4: %v", err)
			}
		})
	}
	// The check has teeth: a PaymentNotice without its recipient fails.
	if _, err := v.Resource([]byte(`{"resourceType":"PaymentNotice","status":"active","created":"2026-01-01","payment":{"display":"x"},"amount":{"value":1,"currency":"USD"}}`), "PaymentNotice"); err == nil {
		t.Error("validation accepted a PaymentNotice without recipient")
	}
}

func TestEventErrors(t *testing.T) {
	const pi = `"data":{"object":{"id":"pi_1","object":"payment_intent","amount_received":100,"currency":"usd","description":"Zzsecret"}}`
	cases := []struct {
		name, body string
		want       error
	}{
		{"another type is ignored", `{"id":"evt_1","type":"customer.updated","created":1795100400,"data":{"object":{"id":"cus_1","object":"customer","email":"zzsecret@x.example"}}}`, ErrIgnored},
		{"payment failed is ignored", `{"id":"evt_1","type":"payment_intent.payment_failed","created":1795100400,` + pi + `}`, ErrIgnored},
		{"an uncaptured charge is ignored", `{"id":"evt_1","type":"charge.succeeded","created":1795100400,"data":{"object":{"id":"ch_1","object":"charge","amount":100,"amount_captured":0,"captured":false,"currency":"usd"}}}`, ErrIgnored},
		{"not JSON", `{"id":`, ErrNotEvent},
		{"no id", `{"type":"payment_intent.succeeded","created":1795100400,` + pi + `}`, ErrNotEvent},
		{"no data.object", `{"id":"evt_1","type":"payment_intent.succeeded","created":1795100400}`, ErrNotEvent},
		{"the wrong object", `{"id":"evt_1","type":"invoice.paid","created":1795100400,` + pi + `}`, ErrEventObject},
		{"no created", `{"id":"evt_1","type":"payment_intent.succeeded",` + pi + `}`, ErrEventCreatedAt},
		{"a bad currency", `{"id":"evt_1","type":"payment_intent.succeeded","created":1795100400,"data":{"object":{"id":"pi_1","object":"payment_intent","amount_received":100,"currency":"Zzsecret"}}}`, ErrEventCurrency},
		{"no amount", `{"id":"evt_1","type":"charge.refunded","created":1795100400,"data":{"object":{"id":"ch_1","object":"charge","currency":"usd"}}}`, ErrEventAmount},
		{"a negative amount", `{"id":"evt_1","type":"invoice.paid","created":1795100400,"data":{"object":{"id":"in_1","object":"invoice","amount_paid":-5,"currency":"usd"}}}`, ErrEventAmount},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := PaymentNoticeFromEvent([]byte(c.body), EventOptions{})
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if strings.Contains(strings.ToLower(err.Error()), "zzsecret") {
				t.Fatalf("the error quotes the body: %v", err)
			}
		})
	}
}

// A fhir_invoice_id that is not a FHIR id (set by hand in Stripe) is not
// made into a reference; the Stripe invoice is named instead.
func TestEventInvoiceReference(t *testing.T) {
	ev, err := PaymentNoticeFromEvent([]byte(`{"id":"evt_1","type":"invoice.paid","created":1795100400,"data":{"object":{"id":"in_9","object":"invoice","amount_paid":100,"currency":"usd","customer":{"id":"cus_9","object":"customer"},"metadata":{"fhir_invoice_id":"not an id/../x"}}}}`), EventOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pn struct {
		Request struct {
			Reference  string
			Identifier struct{ System, Value string }
		}
	}
	_ = json.Unmarshal(ev.PaymentNotice, &pn)
	if pn.Request.Reference != "" || pn.Request.Identifier.System != InvoiceSystem || pn.Request.Identifier.Value != "in_9" || ev.Customer != "cus_9" {
		t.Fatalf("request %+v customer %q", pn.Request, ev.Customer)
	}
}

// Decimal is MinorUnits' inverse, for every exponent and sign.
func TestDecimal(t *testing.T) {
	cases := []struct {
		minor    int64
		currency string
		want     string
	}{
		{1250, "usd", "12.50"}, {5, "usd", "0.05"}, {0, "eur", "0.00"}, {-199, "USD", "-1.99"},
		{5000, "jpy", "5000"}, {1230, "bhd", "1.230"}, {7, "kwd", "0.007"},
		{math.MaxInt64, "usd", "92233720368547758.07"}, {math.MinInt64, "usd", "-92233720368547758.08"},
	}
	for _, c := range cases {
		got := Decimal(c.minor, c.currency)
		if string(got) != c.want {
			t.Errorf("Decimal(%d, %s) = %s, want %s", c.minor, c.currency, got, c.want)
		}
		if c.currency == "kwd" || c.currency == "bhd" {
			continue // MinorUnits takes three-decimal amounts in tens only
		}
		if back, err := MinorUnits(got, c.currency); err != nil || back != c.minor {
			t.Errorf("MinorUnits(%s) = %d %v, want %d", got, back, err, c.minor)
		}
	}
}

func FuzzPaymentNoticeFromEvent(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join(eventDir, "webhook-*.json"))
	for _, in := range inputs {
		if b, err := os.ReadFile(in); err == nil && !strings.HasSuffix(in, ".golden.json") {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := PaymentNoticeFromEvent(body, EventOptions{})
		if err != nil {
			if strings.Contains(err.Error(), "Zz") {
				t.Fatalf("the error quotes the body: %v", err)
			}
			return
		}
		if !json.Valid(ev.PaymentNotice) {
			t.Fatalf("invalid JSON: %s", ev.PaymentNotice)
		}
	})
}
