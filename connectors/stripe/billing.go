package stripe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
	mapping "github.com/switchboard-health/switchboard/mappings/stripe"
)

// maxDescription bounds invoice_description: a label, not a narrative.
const maxDescription = 250

// billing validates the billing fields and fills their defaults.
func (c Config) billing() (mapping.BillingOptions, error) {
	o := mapping.DefaultBilling()
	if c.InvoiceDescription != "" {
		if strings.TrimSpace(c.InvoiceDescription) == "" || len(c.InvoiceDescription) > maxDescription {
			return o, fmt.Errorf("invoice_description must be a short text (1 to %d characters)", maxDescription)
		}
		o.Description = c.InvoiceDescription
	}
	switch c.CollectionMethod {
	case "":
	case mapping.SendInvoice, mapping.ChargeAutomatically:
		o.CollectionMethod = c.CollectionMethod
	default:
		return o, fmt.Errorf("collection_method must be %s or %s", mapping.SendInvoice, mapping.ChargeAutomatically)
	}
	if c.DaysUntilDue != nil {
		if o.CollectionMethod != mapping.SendInvoice {
			return o, fmt.Errorf("days_until_due applies to collection_method %s only", mapping.SendInvoice)
		}
		if *c.DaysUntilDue < 0 || *c.DaysUntilDue > 365 {
			return o, errors.New("days_until_due must be between 0 and 365")
		}
		o.DaysUntilDue = *c.DaysUntilDue
	}
	if c.AutoAdvance != nil {
		o.AutoAdvance = *c.AutoAdvance
	}
	return o, nil
}

// bill delivers an Invoice (items, then the invoice) or a ChargeItem (one
// item). See the package documentation for the keys and retries.
func (c *Connector) bill(ctx context.Context, d connectors.Delivery) (connectors.Result, error) {
	if d.Interaction != connectors.Create {
		return connectors.Result{}, connectors.PermanentError("unsupported_interaction",
			fmt.Errorf("stripe bills a %s on create only, not %q (an update would bill again)", d.ResourceType, d.Interaction))
	}
	if d.IdempotencyKey == "" {
		// The derived keys would be the same for every delivery.
		return connectors.Result{}, connectors.PermanentError("no_idempotency_key",
			errors.New("billing needs the delivery's idempotency key"))
	}
	var reqs []mapping.Request
	var err error
	if d.ResourceType == "Invoice" {
		reqs, err = mapping.InvoiceRequests(d.Resource, d.Related, d.TransferID, c.billing)
	} else {
		var r mapping.Request
		r, err = mapping.ChargeItemRequest(d.Resource, d.Related, d.TransferID, c.billing)
		reqs = []mapping.Request{r}
	}
	if err != nil {
		code := "mapping"
		var me *mapping.Error
		if errors.As(err, &me) {
			code = me.Code
		}
		return connectors.Result{}, connectors.PermanentError(code, err)
	}
	var res connectors.Result
	for i, r := range reqs {
		res, err = c.send(ctx, outbound.Request{
			Method:         r.Method,
			URL:            c.base + r.Path,
			PathTemplate:   c.basePath + r.Path,
			Body:           []byte(r.Form.Encode()),
			IdempotencyKey: CallKey(d.IdempotencyKey, r.Path, i+1),
			Header:         c.header(),
		})
		if err != nil {
			var ce *connectors.Error
			if errors.As(err, &ce) && ce.Err == nil {
				ce.Err = fmt.Errorf("%s %s, call %d of %d", r.Method, r.Path, i+1, len(reqs))
			}
			return connectors.Result{}, err
		}
	}
	return res, nil
}

// CallKey is the idempotency key of the n-th call (from 1) of a billing
// delivery whose key is key: key+":item:n" for an invoice item,
// key+":invoice" for the invoice.
func CallKey(key, path string, n int) string {
	if path == "/v1/invoices" {
		return key + ":invoice"
	}
	return key + ":item:" + strconv.Itoa(n)
}
