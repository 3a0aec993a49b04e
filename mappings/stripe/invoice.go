package stripe

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// Error codes of *Error, stable for callers and logs.
const (
	CodeMapping    = "mapping"
	CodeNoCustomer = "no_stripe_customer"
	CodeCurrency   = "currency"
	CodeAmount     = "amount"
	CodeStatus     = "invoice_status"
)

// Error is a mapping failure with a PHI-free code and message.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return "stripe mapping: " + e.Msg }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Collection methods of a Stripe invoice.
const (
	ChargeAutomatically = "charge_automatically"
	SendInvoice         = "send_invoice"
)

// DefaultDescription is the text of every invoice item unless configured.
const DefaultDescription = "Healthcare services"

// BillingOptions are the destination's choices for invoices. The zero value
// is not valid: start from DefaultBilling.
type BillingOptions struct {
	// Description is the invoice items' description, shown to the payer.
	Description string
	// CollectionMethod is ChargeAutomatically or SendInvoice.
	CollectionMethod string
	// DaysUntilDue is sent with SendInvoice only.
	DaysUntilDue int
	// AutoAdvance lets Stripe finalize and collect the invoice by itself.
	AutoAdvance bool
}

// DefaultBilling is what a destination bills with unless configured:
// invoices e-mailed to the customer, due in 30 days, finalized by Stripe.
// (charge_automatically needs a payment method on the customer, which a
// customer made from a Patient does not have.)
func DefaultBilling() BillingOptions {
	return BillingOptions{Description: DefaultDescription, CollectionMethod: SendInvoice, DaysUntilDue: 30, AutoAdvance: true}
}

// Request is one Stripe call: POST to Path (under the API base) with Form
// as its body (the caller sends Form.Encode(), which sorts the keys).
type Request struct {
	Method string
	Path   string
	Form   url.Values
}

// InvoiceRequests maps an Invoice to its Stripe calls, in the order they
// must be made: one invoice item per line, then the invoice. related holds
// the resources of the same transaction Bundle, keyed by the reference as
// written (connectors.Delivery.Related).
func InvoiceRequests(invoice []byte, related map[string][]byte, transferID string, o BillingOptions) ([]Request, error) {
	var inv fhir.Invoice
	contained, err := decode(invoice, "Invoice", &inv)
	if err != nil {
		return nil, err
	}
	if inv.Status != fhir.InvoiceStatusIssued {
		return nil, errorf(CodeStatus, "only issued invoices are billed")
	}
	if len(inv.LineItem) == 0 {
		return nil, errorf(CodeAmount, "the invoice has no lines")
	}
	res := resolver{fhirjson.NewResolver(contained, related)}
	customer := res.customer(inv.Recipient, inv.Subject)
	if customer == "" {
		return nil, errorf(CodeNoCustomer, "the invoice's recipient or subject carries no Stripe customer identifier (%s); deliver the Patient to Stripe first", IdentifierSystem)
	}

	var cur currencies
	for _, t := range []struct {
		what string
		m    *fhir.Money
	}{{"totalNet", inv.TotalNet}, {"totalGross", inv.TotalGross}} {
		// A total without a value still names its currency.
		if t.m != nil && t.m.Currency != nil {
			if err := cur.add(*t.m.Currency, t.what); err != nil {
				return nil, err
			}
		}
	}
	type line struct {
		seq    int
		amount money
	}
	lines := make([]line, 0, len(inv.LineItem))
	for i, li := range inv.LineItem {
		seq := i + 1
		if li.Sequence != nil {
			seq = *li.Sequence
		}
		amt, err := res.lineAmount(li, i+1)
		if err != nil {
			return nil, err
		}
		if err := cur.add(amt.currency, fmt.Sprintf("line %d", i+1)); err != nil {
			return nil, err
		}
		lines = append(lines, line{seq, amt})
	}
	if cur.code == "" {
		return nil, errorf(CodeCurrency, "the invoice names no currency")
	}

	meta := url.Values{}
	if inv.Id != nil && *inv.Id != "" {
		meta.Set("metadata[fhir_invoice_id]", *inv.Id)
	}
	if transferID != "" {
		meta.Set("metadata[switchboard_transfer]", transferID)
	}
	meta.Set("metadata[switchboard_origin]", "switchboard")

	var total int64
	reqs := make([]Request, 0, len(lines)+1)
	for i, l := range lines {
		minor, err := MinorUnits(l.amount.value, cur.code)
		if err != nil {
			return nil, errorf(CodeAmount, "line %d: %s", i+1, strings.TrimPrefix(err.Error(), "stripe mapping: "))
		}
		total += minor
		f := item(customer, cur.code, minor, o, meta)
		f.Set("metadata[fhir_line]", strconv.Itoa(l.seq))
		reqs = append(reqs, Request{Method: http.MethodPost, Path: "/v1/invoiceitems", Form: f})
	}
	if total < 0 {
		return nil, errorf(CodeAmount, "the invoice's total is negative")
	}

	f := copyValues(meta)
	f.Set("customer", customer)
	f.Set("currency", cur.code)
	f.Set("collection_method", o.CollectionMethod)
	if o.CollectionMethod == SendInvoice {
		f.Set("days_until_due", strconv.Itoa(o.DaysUntilDue))
	}
	f.Set("auto_advance", strconv.FormatBool(o.AutoAdvance))
	f.Set("pending_invoice_items_behavior", "include")
	reqs = append(reqs, Request{Method: http.MethodPost, Path: "/v1/invoices", Form: f})
	return reqs, nil
}

// ChargeItemRequest maps a ChargeItem alone to one invoice item, priced by
// its priceOverride, for the customer of its subject. It stays pending at
// Stripe until the customer's next invoice.
func ChargeItemRequest(chargeItem []byte, related map[string][]byte, transferID string, o BillingOptions) (Request, error) {
	var ci fhir.ChargeItem
	contained, err := decode(chargeItem, "ChargeItem", &ci)
	if err != nil {
		return Request{}, err
	}
	if ci.Status != fhir.ChargeItemStatusBillable {
		return Request{}, errorf(CodeStatus, "only billable charge items are billed")
	}
	res := resolver{fhirjson.NewResolver(contained, related)}
	customer := res.customer(&ci.Subject)
	if customer == "" {
		return Request{}, errorf(CodeNoCustomer, "the charge item's subject carries no Stripe customer identifier (%s); deliver the Patient to Stripe first", IdentifierSystem)
	}
	m, ok := readMoney(ci.PriceOverride)
	if !ok {
		return Request{}, errorf(CodeAmount, "the charge item has no priceOverride")
	}
	var cur currencies
	if err := cur.add(m.currency, "priceOverride"); err != nil {
		return Request{}, err
	}
	if cur.code == "" {
		return Request{}, errorf(CodeCurrency, "the charge item names no currency")
	}
	minor, err := MinorUnits(m.value, cur.code)
	if err != nil {
		return Request{}, err
	}
	if minor < 0 {
		return Request{}, errorf(CodeAmount, "the charge item's price is negative")
	}
	meta := url.Values{}
	if ci.Id != nil && *ci.Id != "" {
		meta.Set("metadata[fhir_charge_item_id]", *ci.Id)
	}
	if transferID != "" {
		meta.Set("metadata[switchboard_transfer]", transferID)
	}
	meta.Set("metadata[switchboard_origin]", "switchboard")
	return Request{Method: http.MethodPost, Path: "/v1/invoiceitems", Form: item(customer, cur.code, minor, o, meta)}, nil
}

func item(customer, currency string, minor int64, o BillingOptions, meta url.Values) url.Values {
	f := copyValues(meta)
	f.Set("customer", customer)
	f.Set("currency", currency)
	f.Set("amount", strconv.FormatInt(minor, 10))
	f.Set("description", o.Description)
	return f
}

func copyValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+8)
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// decode checks the resource type (samply's decoders accept any) and
// decodes resource into into; it returns the contained resources.
func decode(resource []byte, typ string, into any) ([]json.RawMessage, error) {
	var head struct {
		ResourceType string            `json:"resourceType"`
		Contained    []json.RawMessage `json:"contained"`
	}
	if err := json.Unmarshal(resource, &head); err != nil {
		return nil, errorf(CodeMapping, "the resource is not JSON")
	}
	if head.ResourceType != typ {
		return nil, errorf(CodeMapping, "the resource is not of type %s", typ)
	}
	if err := json.Unmarshal(resource, into); err != nil {
		return nil, errorf(CodeMapping, "the %s does not decode", typ)
	}
	return head.Contained, nil
}

// resolver finds the resources a reference points to: contained ("#id") or
// in the same Bundle (related).
type resolver struct{ fhirjson.Resolver }

func (r resolver) lookup(ref *fhir.Reference) []byte {
	if ref == nil || ref.Reference == nil {
		return nil
	}
	return r.Resolve(*ref.Reference)
}

// customer is the first Stripe customer id found on refs.
func (r resolver) customer(refs ...*fhir.Reference) string {
	for _, ref := range refs {
		if ref == nil {
			continue
		}
		if id := ref.Identifier; id != nil && id.System != nil && *id.System == IdentifierSystem && id.Value != nil && *id.Value != "" {
			return *id.Value
		}
		if b := r.lookup(ref); b != nil {
			var res struct {
				Identifier []fhir.Identifier `json:"identifier"`
			}
			if json.Unmarshal(b, &res) == nil {
				for _, id := range res.Identifier {
					if id.System != nil && *id.System == IdentifierSystem && id.Value != nil && *id.Value != "" {
						return *id.Value
					}
				}
			}
		}
	}
	return ""
}

// lineAmount is the line's base price, or its ChargeItem's priceOverride.
func (r resolver) lineAmount(li fhir.InvoiceLineItem, n int) (money, error) {
	var base []money
	for _, pc := range li.PriceComponent {
		switch pc.Type {
		case fhir.InvoicePriceComponentTypeBase:
			m, ok := readMoney(pc.Amount)
			if !ok {
				return money{}, errorf(CodeAmount, "line %d has a base price component without an amount", n)
			}
			base = append(base, m)
		case fhir.InvoicePriceComponentTypeInformational:
		default:
			return money{}, errorf(CodeAmount, "line %d has a %s price component, which is not mapped", n, pc.Type.Code())
		}
	}
	if len(base) == 1 {
		return base[0], nil
	}
	if len(base) > 1 {
		return money{}, errorf(CodeAmount, "line %d has several base price components", n)
	}
	b := r.lookup(&li.ChargeItemReference)
	if b == nil {
		return money{}, errorf(CodeAmount, "line %d has no base price and no ChargeItem in the delivery", n)
	}
	var ci struct {
		ResourceType  string      `json:"resourceType"`
		PriceOverride *fhir.Money `json:"priceOverride"`
	}
	if json.Unmarshal(b, &ci) != nil || ci.ResourceType != "ChargeItem" {
		return money{}, errorf(CodeAmount, "line %d refers to something other than a ChargeItem", n)
	}
	m, ok := readMoney(ci.PriceOverride)
	if !ok {
		return money{}, errorf(CodeAmount, "line %d: its ChargeItem has no priceOverride", n)
	}
	return m, nil
}
