package stripe

import (
	"encoding/json"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readInput reads a billing golden input: a FHIR resource, or a transaction
// Bundle whose first entry is the resource and whose other entries are its
// related resources, keyed by fullUrl (as the hub fills Delivery.Related).
func readInput(t *testing.T, path string) (resource []byte, related map[string][]byte) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(src, &b); err != nil {
		t.Fatal(err)
	}
	if b.ResourceType != "Bundle" {
		return src, nil
	}
	related = map[string][]byte{}
	for _, e := range b.Entry[1:] {
		related[e.FullURL] = e.Resource
	}
	return b.Entry[0].Resource, related
}

// formatRequests is the golden form of several Stripe calls: for each, a
// line "METHOD PATH" then its form one parameter a line, keys sorted, and a
// blank line between calls.
func formatRequests(reqs []Request) string {
	var sb strings.Builder
	for i, r := range reqs {
		if i > 0 {
			sb.WriteString("\n")
		}
		sb.WriteString(r.Method + " " + r.Path + "\n")
		sb.WriteString(strings.ReplaceAll(r.Form.Encode(), "&", "\n") + "\n")
	}
	return sb.String()
}

// Billing goldens: testdata/mappings/stripe/invoice/*.json (Invoices and a
// ChargeItem written by this project) to *.golden.form, every call in order.
func TestBillingGolden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "mappings", "stripe", "invoice", "*.json"))
	if len(inputs) < 4 {
		t.Fatal("billing golden inputs missing")
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			res, related := readInput(t, in)
			var reqs []Request
			var err error
			if strings.HasPrefix(filepath.Base(in), "chargeitem") {
				var r Request
				r, err = ChargeItemRequest(res, related, "tr_golden", DefaultBilling())
				reqs = []Request{r}
			} else {
				reqs, err = InvoiceRequests(res, related, "tr_golden", DefaultBilling())
			}
			if err != nil {
				t.Fatal(err)
			}
			got := formatRequests(reqs)
			golden := strings.TrimSuffix(in, ".json") + ".golden.form"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./mappings/... -update)", err)
			}
			if got != string(want) {
				t.Fatalf("mapping differs from %s:\n%s", golden, got)
			}
			// Nothing clinical or identifying reaches the payment gateway.
			for _, clinical := range []string{"MRI", "depression", "HIV", "oncolog", "Blood", "Physio", "Zzsecret", "Ada", "1985", "MRN", "70551", "310512001"} {
				if strings.Contains(got, clinical) {
					t.Errorf("Stripe must not receive %q", clinical)
				}
			}
		})
	}
}

func usdInvoice(lines string, extra string) []byte {
	return []byte(`{"resourceType":"Invoice","id":"i1","status":"issued",` +
		`"subject":{"identifier":{"system":"` + IdentifierSystem + `","value":"cus_1"}},` + extra +
		`"lineItem":[` + lines + `]}`)
}

func line(value, currency string) string {
	return `{"chargeItemCodeableConcept":{"text":"Zzsecret"},"priceComponent":[{"type":"base","amount":{"value":` + value + `,"currency":"` + currency + `"}}]}`
}

func TestInvoiceAmounts(t *testing.T) {
	cases := []struct {
		name, invoice string
		amounts       []string
		currency      string
	}{
		{"cents, exactly (no float rounding)", string(usdInvoice(line("0.29", "USD")+","+line("19.99", "USD")+","+line("1e2", "USD"), "")),
			[]string{"29", "1999", "10000"}, "usd"},
		{"a negative line (a credit) within a positive total", string(usdInvoice(line("50", "EUR")+","+line("-20.00", "EUR"), "")),
			[]string{"5000", "-2000"}, "eur"},
		{"zero-decimal KRW", string(usdInvoice(line("15000", "KRW"), "")), []string{"15000"}, "krw"},
		{"three-decimal KWD", string(usdInvoice(line("1.250", "KWD"), "")), []string{"1250"}, "kwd"},
		{"currency from the totals when the line has none", string(usdInvoice(`{"priceComponent":[{"type":"base","amount":{"value":12}}]}`, `"totalGross":{"currency":"GBP"},`)),
			[]string{"1200"}, "gbp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reqs, err := InvoiceRequests([]byte(c.invoice), nil, "tr", DefaultBilling())
			if err != nil {
				t.Fatal(err)
			}
			if len(reqs) != len(c.amounts)+1 {
				t.Fatalf("%d requests", len(reqs))
			}
			for i, a := range c.amounts {
				f := reqs[i].Form
				if f.Get("amount") != a || f.Get("currency") != c.currency || f.Get("description") != DefaultDescription {
					t.Errorf("line %d: %s", i+1, f.Encode())
				}
			}
			if inv := reqs[len(reqs)-1]; inv.Path != "/v1/invoices" || inv.Form.Get("currency") != c.currency {
				t.Errorf("invoice: %s %s", inv.Path, inv.Form.Encode())
			}
		})
	}
}

func TestInvoiceRefusals(t *testing.T) {
	noCustomer := `{"resourceType":"Invoice","status":"issued","subject":{"reference":"Patient/p1","display":"Zzsecret"},"lineItem":[` + line("1", "USD") + `]}`
	cases := []struct {
		name, invoice string
		related       map[string][]byte
		code          string
	}{
		{"fraction of a cent", string(usdInvoice(line("10.005", "USD"), "")), nil, CodeAmount},
		{"fraction of a yen", string(usdInvoice(line("100.5", "JPY"), "")), nil, CodeAmount},
		{"BHD not in tens of fils", string(usdInvoice(line("1.234", "BHD"), "")), nil, CodeAmount},
		{"negative total", string(usdInvoice(line("5", "USD")+","+line("-7", "USD"), "")), nil, CodeAmount},
		{"too large", string(usdInvoice(line("99999999999999999999", "USD"), "")), nil, CodeAmount},
		{"mixed currencies across lines", string(usdInvoice(line("5", "USD")+","+line("5", "EUR"), "")), nil, CodeCurrency},
		{"line versus totalNet", string(usdInvoice(line("5", "USD"), `"totalNet":{"value":5,"currency":"EUR"},`)), nil, CodeCurrency},
		{"line versus totalGross", string(usdInvoice(line("5", "USD"), `"totalGross":{"value":5,"currency":"CAD"},`)), nil, CodeCurrency},
		{"no currency anywhere", string(usdInvoice(`{"priceComponent":[{"type":"base","amount":{"value":5}}]}`, "")), nil, CodeCurrency},
		{"a discount is not guessed at", string(usdInvoice(`{"priceComponent":[{"type":"base","amount":{"value":5,"currency":"USD"}},{"type":"discount","amount":{"value":1,"currency":"USD"}}]}`, "")), nil, CodeAmount},
		{"no price at all", string(usdInvoice(`{"chargeItemReference":{"reference":"ChargeItem/c1"}}`, "")), nil, CodeAmount},
		{"no Stripe customer", noCustomer, nil, CodeNoCustomer},
		{"related Patient without the identifier", noCustomer, map[string][]byte{"Patient/p1": []byte(`{"resourceType":"Patient","identifier":[{"system":"https://clinic.example/mrn","value":"Zzsecret"}]}`)}, CodeNoCustomer},
		{"draft invoice", strings.Replace(string(usdInvoice(line("5", "USD"), "")), `"issued"`, `"draft"`, 1), nil, CodeStatus},
		{"not an Invoice", `{"resourceType":"Patient","name":[{"family":"Zzsecret"}]}`, nil, CodeMapping},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := InvoiceRequests([]byte(c.invoice), c.related, "tr", DefaultBilling())
			var me *Error
			if !errors.As(err, &me) || me.Code != c.code {
				t.Fatalf("error %v, want code %s", err, c.code)
			}
			if strings.Contains(err.Error(), "Zzsecret") || strings.Contains(err.Error(), "cus_") {
				t.Fatalf("error holds PHI: %v", err)
			}
		})
	}
}

func TestInvoiceCustomerSources(t *testing.T) {
	ident := `"identifier":[{"system":"` + IdentifierSystem + `","value":"cus_`
	cases := []struct {
		name, refs string
		related    map[string][]byte
		want       string
	}{
		{"recipient before subject",
			`"recipient":{"identifier":{"system":"` + IdentifierSystem + `","value":"cus_R"}},"subject":{"identifier":{"system":"` + IdentifierSystem + `","value":"cus_S"}},`,
			nil, "cus_R"},
		{"contained recipient", `"contained":[{"resourceType":"RelatedPerson","id":"g",` + ident + `G"}]}],"recipient":{"reference":"#g"},`, nil, "cus_G"},
		{"related subject", `"subject":{"reference":"urn:uuid:1"},`,
			map[string][]byte{"urn:uuid:1": []byte(`{"resourceType":"Patient",` + ident + `P"}]}`)}, "cus_P"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv := `{"resourceType":"Invoice","status":"issued",` + c.refs + `"lineItem":[` + line("1", "USD") + `]}`
			reqs, err := InvoiceRequests([]byte(inv), c.related, "tr", DefaultBilling())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range reqs {
				if r.Form.Get("customer") != c.want {
					t.Fatalf("%s customer %q, want %q", r.Path, r.Form.Get("customer"), c.want)
				}
			}
		})
	}
}

func TestInvoiceOptions(t *testing.T) {
	o := BillingOptions{Description: "Clinic visit", CollectionMethod: ChargeAutomatically, DaysUntilDue: 9, AutoAdvance: false}
	reqs, err := InvoiceRequests(usdInvoice(line("5", "USD"), ""), nil, "tr", o)
	if err != nil {
		t.Fatal(err)
	}
	if reqs[0].Form.Get("description") != "Clinic visit" {
		t.Errorf("item %s", reqs[0].Form.Encode())
	}
	want := url.Values{"customer": {"cus_1"}, "currency": {"usd"}, "collection_method": {"charge_automatically"},
		"auto_advance": {"false"}, "pending_invoice_items_behavior": {"include"}, "metadata[fhir_invoice_id]": {"i1"},
		"metadata[switchboard_transfer]": {"tr"}, "metadata[switchboard_origin]": {"switchboard"}}
	if got := reqs[1].Form.Encode(); got != want.Encode() {
		t.Errorf("invoice (no days_until_due when charging automatically):\n got %s\nwant %s", got, want.Encode())
	}
}

func TestChargeItemRefusals(t *testing.T) {
	cases := map[string]struct{ ci, code string }{
		"no customer":    {`{"resourceType":"ChargeItem","status":"billable","subject":{"reference":"Patient/p"},"priceOverride":{"value":5,"currency":"USD"}}`, CodeNoCustomer},
		"no price":       {`{"resourceType":"ChargeItem","status":"billable","subject":{"identifier":{"system":"` + IdentifierSystem + `","value":"cus_1"}}}`, CodeAmount},
		"fraction":       {`{"resourceType":"ChargeItem","status":"billable","subject":{"identifier":{"system":"` + IdentifierSystem + `","value":"cus_1"}},"priceOverride":{"value":5.001,"currency":"USD"}}`, CodeAmount},
		"not billable":   {`{"resourceType":"ChargeItem","status":"planned","subject":{"identifier":{"system":"` + IdentifierSystem + `","value":"cus_1"}},"priceOverride":{"value":5,"currency":"USD"}}`, CodeStatus},
		"bad currency":   {`{"resourceType":"ChargeItem","status":"billable","subject":{"identifier":{"system":"` + IdentifierSystem + `","value":"cus_1"}},"priceOverride":{"value":5,"currency":"US$"}}`, CodeCurrency},
		"not ChargeItem": {`{"resourceType":"Invoice","status":"issued"}`, CodeMapping},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ChargeItemRequest([]byte(c.ci), nil, "tr", DefaultBilling())
			var me *Error
			if !errors.As(err, &me) || me.Code != c.code {
				t.Fatalf("error %v, want code %s", err, c.code)
			}
		})
	}
}

// FuzzInvoiceRequests: any input maps or fails with a PHI-free *Error,
// never a panic, and a mapping always ends with the invoice.
func FuzzInvoiceRequests(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "mappings", "stripe", "invoice", "invoice-*.json"))
	for _, in := range inputs {
		b, _ := os.ReadFile(in)
		f.Add(b)
	}
	f.Add(usdInvoice(line("1e400", "USD"), ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		reqs, err := InvoiceRequests(b, nil, "tr", DefaultBilling())
		if err != nil {
			var me *Error
			if !errors.As(err, &me) || me.Code == "" {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if len(reqs) < 2 || reqs[len(reqs)-1].Path != "/v1/invoices" {
			t.Fatalf("requests %+v", reqs)
		}
	})
}

// FuzzMinorUnits: an accepted amount converts back to the same value.
func FuzzMinorUnits(f *testing.F) {
	for _, s := range []string{"0", "12.5", "-3.25", "1e2", "0.001", "12.340", "99999999999999999999"} {
		f.Add(s, "USD")
		f.Add(s, "JPY")
		f.Add(s, "KWD")
	}
	f.Fuzz(func(t *testing.T, value, currency string) {
		minor, err := MinorUnits(json.Number(value), currency)
		if err != nil {
			return
		}
		want, ok := new(big.Rat).SetString(value)
		if !ok {
			t.Fatalf("accepted %q", value)
		}
		got := new(big.Rat).SetFrac(big.NewInt(minor), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(Exponent(currency))), nil))
		if got.Cmp(want) != 0 {
			t.Fatalf("%q %s -> %d", value, currency, minor)
		}
	})
}
