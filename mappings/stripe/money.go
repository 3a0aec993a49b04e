package stripe

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// zeroDecimal and threeDecimal list the currencies whose minor unit is not
// the hundredth (Stripe's lists of zero- and three-decimal currencies).
var (
	zeroDecimal = map[string]bool{
		"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true, "krw": true, "mga": true,
		"pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true, "xof": true, "xpf": true,
	}
	threeDecimal = map[string]bool{"bhd": true, "jod": true, "kwd": true, "omr": true, "tnd": true}
)

// Exponent is the number of decimal places of currency's minor unit as
// Stripe counts it: 0 for JPY and KRW, 3 for BHD and KWD, 2 otherwise.
func Exponent(currency string) int {
	c := strings.ToLower(currency)
	switch {
	case zeroDecimal[c]:
		return 0
	case threeDecimal[c]:
		return 3
	}
	return 2
}

// currencyCode is the lower-case ISO 4217 code Stripe takes, or "" when s
// is not three letters.
func currencyCode(s string) string {
	if len(s) != 3 {
		return ""
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return ""
		}
	}
	return strings.ToLower(s)
}

// MinorUnits converts a FHIR decimal (as written, e.g. "12.50" or "1e3") to
// an integer number of currency's minor units, exactly: the string is parsed
// as a rational, never as a float. A value with a fraction of a minor unit
// ("12.345" USD) is refused, as is one beyond int64. For three-decimal
// currencies Stripe also requires the last digit to be 0.
func MinorUnits(value json.Number, currency string) (int64, error) {
	s := string(value)
	if len(s) > 64 || strings.ContainsAny(s, "/_") || !saneExponent(s) {
		return 0, errorf(CodeAmount, "an amount is not a decimal number of a sensible size")
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, errorf(CodeAmount, "an amount is not a decimal number")
	}
	exp := Exponent(currency)
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)))
	if !r.IsInt() {
		return 0, errorf(CodeAmount, "an amount has a fraction of the currency's minor unit")
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, errorf(CodeAmount, "an amount is too large")
	}
	minor := n.Int64()
	if exp == 3 && minor%10 != 0 {
		return 0, errorf(CodeAmount, "Stripe takes three-decimal currencies in multiples of 10 minor units")
	}
	return minor, nil
}

// saneExponent refuses "1e999999999", which big.Rat would expand.
func saneExponent(s string) bool {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return true
	}
	e, err := strconv.Atoi(s[i+1:])
	return err == nil && e >= -30 && e <= 30
}

// money is a FHIR Money read for billing: its value and its currency as
// written (possibly "", inherited from the invoice).
type money struct {
	value    json.Number
	currency string
}

func readMoney(m *fhir.Money) (money, bool) {
	if m == nil || m.Value == nil {
		return money{}, false
	}
	out := money{value: *m.Value}
	if m.Currency != nil {
		out.currency = *m.Currency
	}
	return out, true
}

// currencies collects the currencies of several amounts and refuses a mix.
type currencies struct {
	code string
}

// add records the currency of one amount; what names the amount in the
// error (PHI-free: "line 2", "totalNet").
func (c *currencies) add(currency, what string) error {
	if currency == "" {
		return nil
	}
	code := currencyCode(currency)
	if code == "" {
		return errorf(CodeCurrency, "%s has an invalid currency code", what)
	}
	if c.code != "" && c.code != code {
		return errorf(CodeCurrency, "%s is in another currency than the rest of the invoice", what)
	}
	c.code = code
	return nil
}
