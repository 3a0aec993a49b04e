package candid

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

func serviceLinesOf(c claim, pos map[int]int, e *encounterCreate) error {
	if len(c.Item) == 0 {
		return errors.New("the Claim has no item: Candid needs at least one service line")
	}
	for _, it := range c.Item {
		code := it.ProductOrService.code(SystemCPT, SystemHCPCS)
		if code == "" {
			return fmt.Errorf("Claim.item %d has no CPT or HCPCS code", it.Sequence)
		}
		sl := serviceLine{ProcedureCode: code, Quantity: "1", Units: "UN", DateOfService: datePart(it.ServicedDate)}
		for _, m := range it.Modifier {
			for _, cd := range m.Coding {
				if cd.Code != "" {
					sl.Modifiers = append(sl.Modifiers, cd.Code)
				}
			}
		}
		qty := int64(1)
		if it.Quantity != nil && it.Quantity.Value != "" {
			sl.Quantity = it.Quantity.Value.String()
			if it.Quantity.Code == "min" {
				sl.Units = "MJ"
			}
			q, err := strconv.ParseInt(sl.Quantity, 10, 64)
			if err != nil || q <= 0 {
				qty = 0 // not a whole count: unitPrice cannot be multiplied, net is needed
			} else {
				qty = q
			}
		}
		switch {
		case it.Net != nil:
			cents, err := centsOf(*it.Net)
			if err != nil {
				return fmt.Errorf("Claim.item %d net: %w", it.Sequence, err)
			}
			sl.ChargeAmountCents = &cents
		case it.UnitPrice != nil:
			cents, err := centsOf(*it.UnitPrice)
			if err != nil {
				return fmt.Errorf("Claim.item %d unitPrice: %w", it.Sequence, err)
			}
			if qty == 0 {
				return fmt.Errorf("Claim.item %d: a fractional quantity needs item.net", it.Sequence)
			}
			total := cents * qty
			sl.ChargeAmountCents = &total
		}
		sl.DiagnosisPointers = []int{}
		for _, seq := range it.DiagnosisSequence {
			p, ok := pos[seq]
			if !ok {
				return fmt.Errorf("Claim.item %d points to diagnosis %d, which the Claim does not have", it.Sequence, seq)
			}
			sl.DiagnosisPointers = append(sl.DiagnosisPointers, p)
		}
		if len(sl.DiagnosisPointers) == 0 {
			sl.DiagnosisPointers = []int{0} // Candid needs one; the principal diagnosis
		}
		e.ServiceLines = append(e.ServiceLines, sl)
	}
	return nil
}

// centsOf turns a FHIR Money in USD into cents, refusing a fraction of a
// cent rather than rounding a charge.
func centsOf(m money) (int64, error) {
	if m.Currency != "" && m.Currency != "USD" {
		return 0, errors.New("Candid bills in USD only")
	}
	s := m.Value.String()
	if s == "" || strings.HasPrefix(s, "-") || strings.ContainsAny(s, "eE+") {
		return 0, errors.New("the amount must be a non-negative decimal")
	}
	whole, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 2 {
		return 0, errors.New("the amount has a fraction of a cent")
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n > 1<<40 {
		return 0, errors.New("the amount is not a valid decimal")
	}
	return n, nil
}
