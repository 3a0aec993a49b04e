package stripe

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// Inbound Stripe events (webhook bodies, signature already verified) become
// FHIR R4 PaymentNotices. A Stripe Event is {"id":"evt_…","object":"event",
// "type","created" (Unix seconds),"data":{"object":{…}}} with the
// PaymentIntent, Charge or Invoice as it was after the change (Stripe API
// reference, "The Event object" and "Types of events").
//
//	payment_intent.succeeded  the PaymentIntent's amount_received
//	charge.succeeded          the Charge's amount_captured (an authorisation not yet captured is ignored)
//	invoice.paid              the Invoice's amount_paid, paid on status_transitions.paid_at
//	charge.refunded           the Charge's amount_refunded (the total so far), paymentStatus refunded
//
// Why a PaymentNotice for a refund too: R4's PaymentReconciliation is an
// insurer's remittance (a payment to a provider broken down by the claims it
// settles; its detail types are payment, adjustment and advance), not a
// patient's card payment going back. A PaymentNotice says "this amount
// moved for that request" and its paymentStatus binding is an example one,
// so a refund is a PaymentNotice with paymentStatus refunded
// (RefundStatusSystem), identified by the refunded charge so that a second
// partial refund updates the same notice with the new total.
//
// R4 requires status, payment, recipient, amount and created:
//
//	status         active
//	identifier     the payment's key (below), then the object's own id when it differs
//	request        Invoice/{metadata.fhir_invoice_id} when the hub billed it, else
//	               the Stripe invoice by identifier (InvoiceSystem), else omitted
//	created        the event's created
//	payment        Reference(PaymentReconciliation) by identifier: the PaymentIntent
//	               (PaymentIntentSystem), else the Charge, else the Invoice. There is
//	               no PaymentReconciliation: the identifier names the payment.
//	paymentDate    the day (UTC) the payment happened
//	payee, recipient  the practice as an Organization display (EventOptions.Recipient)
//	amount         Money: the minor units back to a decimal by Exponent, currency upper case
//	paymentStatus  paid (http://terminology.hl7.org/CodeSystem/paymentstatus) or refunded
//	extension      PayerExtension: the patient, as Reference.identifier IdentifierSystem|customer
//
// R4's PaymentNotice has no element for who paid; the extension carries the
// Stripe customer, which the Customer mapping wrote back to the Patient as an
// identifier, so that the hub can find the patient without a crosswalk.
//
// The payment's key is what a PaymentIntent, its Charge and its Invoice
// share, so that the three events of one card payment describe one
// PaymentNotice: the PaymentIntent id when the object names one, else the
// object's own id.
const (
	PaymentIntentSystem = "https://switchboard.health/id/stripe-payment-intent"
	ChargeSystem        = "https://switchboard.health/id/stripe-charge"
	// RefundSystem identifies a refund notice by the refunded charge's id.
	RefundSystem = "https://switchboard.health/id/stripe-charge-refund"
	// PayerExtension is a Switchboard extension on PaymentNotice: a
	// valueReference to the Patient who paid.
	PayerExtension = "https://switchboard.health/fhir/StructureDefinition/payment-notice-payer"
	// PaymentStatusSystem is HL7's code system of PaymentNotice.paymentStatus.
	PaymentStatusSystem = "http://terminology.hl7.org/CodeSystem/paymentstatus"
	// RefundStatusSystem holds the code refunded, which HL7's has not.
	RefundStatusSystem = "https://switchboard.health/fhir/CodeSystem/payment-status"
	// DefaultRecipient is the recipient's display unless configured.
	DefaultRecipient = "Practice (Stripe account holder)"
	// OriginStripe tags FHIR made from Stripe data (meta.tag, system
	// https://switchboard.health/origin), so it is not sent back.
	OriginStripe = "stripe"
)

// Stripe event types mapped to a PaymentNotice.
const (
	EventPaymentIntentSucceeded = "payment_intent.succeeded"
	EventChargeSucceeded        = "charge.succeeded"
	EventInvoicePaid            = "invoice.paid"
	EventChargeRefunded         = "charge.refunded"
)

// ErrIgnored is returned for a well-formed event that maps to nothing
// (another type, or a charge authorised but not captured): the hub
// acknowledges it and does nothing. It is not a failure.
var ErrIgnored = errors.New("stripe event: event type not mapped")

// Errors of a malformed event. They name the field, never its value.
var (
	ErrNotEvent       = errors.New("stripe event: the body is not a Stripe event (id, type, created, data.object)")
	ErrEventObject    = errors.New("stripe event: data.object is not the object the event type carries")
	ErrEventCurrency  = errors.New("stripe event: data.object.currency is not a three-letter currency code")
	ErrEventAmount    = errors.New("stripe event: the amount of data.object is missing or negative")
	ErrEventCreatedAt = errors.New("stripe event: created is missing or out of range")
)

// EventOptions are the destination's choices for inbound events.
type EventOptions struct {
	// Recipient is the display of the Organization notified (the practice
	// that owns the Stripe account); "" is DefaultRecipient.
	Recipient string
}

// Event is a Stripe event mapped to FHIR. Only PaymentNotice holds PHI (an
// amount tied to a patient); the other fields are Stripe and FHIR ids.
type Event struct {
	// ID is the Stripe event id, the de-duplication key of deliveries.
	ID string
	// Type is the Stripe event type (one of the Event constants).
	Type string
	// KeySystem and KeyValue are the identifier the hub upserts the
	// PaymentNotice on: the first of its identifiers.
	KeySystem, KeyValue string
	// Refund is true for charge.refunded.
	Refund bool
	// Customer is the Stripe customer id ("" for a guest payment).
	Customer string
	// PaymentNotice is the FHIR R4 PaymentNotice, keys sorted.
	PaymentNotice json.RawMessage
	// Origin is metadata.switchboard_origin of data.object ("switchboard"
	// when the hub made it); InvoiceID metadata.fhir_invoice_id and
	// TransferID metadata.switchboard_transfer. Stripe copies none of them
	// from an invoice to its PaymentIntent: they are set on invoice.paid.
	Origin, InvoiceID, TransferID string
}

// FromHub reports whether the object was created by the hub. A payment of
// an invoice the hub created is still news to the EHR: use InvoiceID to
// route it, and FromHub only to skip echoes of the hub's own writes.
func (e Event) FromHub() bool { return e.Origin == "switchboard" }

type stripeEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// stripeObject is the part of a PaymentIntent, Charge or Invoice read.
// Descriptions, billing details, receipt e-mails and addresses are not.
type stripeObject struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	Amount            *int64            `json:"amount"`
	AmountReceived    *int64            `json:"amount_received"`
	AmountCaptured    *int64            `json:"amount_captured"`
	AmountRefunded    *int64            `json:"amount_refunded"`
	AmountPaid        *int64            `json:"amount_paid"`
	Captured          *bool             `json:"captured"`
	Currency          string            `json:"currency"`
	Created           int64             `json:"created"`
	Customer          json.RawMessage   `json:"customer"`
	PaymentIntent     json.RawMessage   `json:"payment_intent"`
	Invoice           json.RawMessage   `json:"invoice"`
	Metadata          map[string]string `json:"metadata"`
	StatusTransitions struct {
		PaidAt int64 `json:"paid_at"`
	} `json:"status_transitions"`
}

// fhirID is FHIR's id type: what metadata.fhir_invoice_id must be to become
// a reference.
var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// PaymentNoticeFromEvent maps a Stripe event to a PaymentNotice (see the
// table above). Event types not mapped give ErrIgnored.
func PaymentNoticeFromEvent(body []byte, o EventOptions) (Event, error) {
	var e stripeEvent
	if err := json.Unmarshal(body, &e); err != nil || e.ID == "" || e.Type == "" || len(e.Data.Object) == 0 {
		return Event{}, ErrNotEvent
	}
	var want string
	switch e.Type {
	case EventPaymentIntentSucceeded:
		want = "payment_intent"
	case EventChargeSucceeded, EventChargeRefunded:
		want = "charge"
	case EventInvoicePaid:
		want = "invoice"
	default:
		return Event{}, ErrIgnored
	}
	var obj stripeObject
	if err := json.Unmarshal(e.Data.Object, &obj); err != nil || obj.Object != want || obj.ID == "" {
		return Event{}, ErrEventObject
	}
	// Unix seconds between 1970 and 9999: FHIR's dateTime range.
	if e.Created <= 0 || e.Created > 253402300799 {
		return Event{}, ErrEventCreatedAt
	}
	cur := currencyCode(obj.Currency)
	if cur == "" {
		return Event{}, ErrEventCurrency
	}
	pi := expandableID(obj.PaymentIntent)
	if obj.Object == "payment_intent" {
		pi = obj.ID
	}
	ownSystem := map[string]string{"payment_intent": PaymentIntentSystem, "charge": ChargeSystem, "invoice": InvoiceSystem}[obj.Object]

	ev := Event{ID: e.ID, Type: e.Type, Customer: expandableID(obj.Customer), Refund: e.Type == EventChargeRefunded,
		Origin: obj.Metadata["switchboard_origin"], InvoiceID: obj.Metadata["fhir_invoice_id"], TransferID: obj.Metadata["switchboard_transfer"]}

	paidAt := e.Created
	var amount *int64
	switch e.Type {
	case EventPaymentIntentSucceeded:
		amount = firstSet(obj.AmountReceived, obj.Amount)
	case EventChargeSucceeded:
		if obj.Captured != nil && !*obj.Captured {
			return Event{}, ErrIgnored // authorised only: no money has moved
		}
		amount = firstSet(obj.AmountCaptured, obj.Amount)
		if obj.Created > 0 {
			paidAt = obj.Created
		}
	case EventInvoicePaid:
		amount = obj.AmountPaid
		if obj.StatusTransitions.PaidAt > 0 {
			paidAt = obj.StatusTransitions.PaidAt
		}
	case EventChargeRefunded:
		amount = obj.AmountRefunded
	}
	if amount == nil || *amount < 0 {
		return Event{}, ErrEventAmount
	}

	// The payment: the PaymentIntent when known, else the object itself.
	paySystem, payValue := ownSystem, obj.ID
	if pi != "" {
		paySystem, payValue = PaymentIntentSystem, pi
	}
	var ids []any
	if ev.Refund {
		ev.KeySystem, ev.KeyValue = RefundSystem, obj.ID
	} else {
		ev.KeySystem, ev.KeyValue = paySystem, payValue
	}
	ids = append(ids, identifier(ev.KeySystem, ev.KeyValue))
	if !ev.Refund && ownSystem != paySystem {
		ids = append(ids, identifier(ownSystem, obj.ID))
	}

	recipient := o.Recipient
	if recipient == "" {
		recipient = DefaultRecipient
	}
	org := map[string]any{"type": "Organization", "display": recipient}
	status := map[string]any{"coding": []any{map[string]any{"system": PaymentStatusSystem, "code": "paid"}}}
	if ev.Refund {
		status = map[string]any{"coding": []any{map[string]any{"system": RefundStatusSystem, "code": "refunded", "display": "Refunded"}}, "text": "refunded"}
	}
	pn := map[string]any{
		"resourceType":  "PaymentNotice",
		"meta":          map[string]any{"tag": []any{fhirjson.OriginTag(OriginStripe)}},
		"identifier":    ids,
		"status":        "active",
		"created":       time.Unix(e.Created, 0).UTC().Format(time.RFC3339),
		"payment":       map[string]any{"type": "PaymentReconciliation", "identifier": identifier(paySystem, payValue)},
		"paymentDate":   time.Unix(paidAt, 0).UTC().Format("2006-01-02"),
		"payee":         org,
		"recipient":     org,
		"amount":        map[string]any{"value": Decimal(*amount, cur), "currency": strings.ToUpper(cur)},
		"paymentStatus": status,
	}
	invoice := expandableID(obj.Invoice)
	if obj.Object == "invoice" {
		invoice = obj.ID
	}
	switch {
	case ev.InvoiceID != "" && fhirID.MatchString(ev.InvoiceID):
		pn["request"] = map[string]any{"reference": "Invoice/" + ev.InvoiceID}
	case invoice != "":
		pn["request"] = map[string]any{"type": "Invoice", "identifier": identifier(InvoiceSystem, invoice)}
	}
	if ev.Customer != "" {
		pn["extension"] = []any{map[string]any{"url": PayerExtension,
			"valueReference": map[string]any{"type": "Patient", "identifier": identifier(IdentifierSystem, ev.Customer)}}}
	}
	out, err := json.Marshal(pn) // maps: keys sorted
	if err != nil {
		return Event{}, err // only maps of strings and json.Number: cannot happen
	}
	ev.PaymentNotice = out
	return ev, nil
}

// Decimal converts an amount in currency's minor units back to a FHIR
// decimal, exactly and with the currency's decimal places (1250 USD is
// 12.50, 5000 JPY is 5000, 1230 BHD is 1.230): the inverse of MinorUnits.
func Decimal(minor int64, currency string) json.Number {
	exp := Exponent(currency)
	neg := minor < 0
	digits := strconv.FormatUint(absUint(minor), 10)
	if exp > 0 {
		if len(digits) <= exp {
			digits = strings.Repeat("0", exp-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
	}
	if neg {
		digits = "-" + digits
	}
	return json.Number(digits)
}

func absUint(n int64) uint64 {
	if n < 0 {
		return uint64(-(n + 1)) + 1 // also for math.MinInt64
	}
	return uint64(n)
}

func firstSet(vs ...*int64) *int64 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func identifier(system, value string) map[string]any {
	return map[string]any{"system": system, "value": value}
}

// expandableID reads a Stripe expandable field: an id string, an expanded
// object with an id, or null.
func expandableID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.ID
	}
	return ""
}
