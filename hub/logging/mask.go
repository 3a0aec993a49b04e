package logging

import "regexp"

// phiValue matches text that is PHI whatever key it is logged under: email
// addresses, US phone numbers and SSNs. Dates are deliberately absent: the
// hub logs timestamps and retry deadlines, and a birth date cannot be told
// from them by shape. Bare 9- and 10-digit runs are absent for the same
// reason (ids, epoch seconds, byte counts); the patterns need the separators
// people write (123-45-6789, 555-013-4567, (555) 013-4567) or a +1 prefix.
var phiValue = regexp.MustCompile(
	// email: local@domain.tld
	`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}` +
		// SSN: ddd-dd-dddd
		`|\b\d{3}-\d{2}-\d{4}\b` +
		// phone with a +1 country code, separators optional: +15550134567, +1 (555) 013-4567
		`|\+1[ .\-]?(?:\(\d{3}\)|\d{3})[ .\-]?\d{3}[ .\-]?\d{4}\b` +
		// phone with the area code in parentheses: (555) 013-4567
		`|\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}\b` +
		// phone with separators, optional leading 1: 555-013-4567, 1.555.013.4567
		`|\b(?:1[ .\-])?\d{3}[ .\-]\d{3}[ .\-]\d{4}\b`)

// MaskText returns s with every email address, US phone number and SSN in
// it replaced by [redacted]; the rest of the text is kept so that an
// operator can still read the message. Text that cannot hold a match, which
// is most log text including timestamps, is returned without running the
// regular expression.
func MaskText(s string) string {
	if !suspicious(s) {
		return s
	}
	return phiValue.ReplaceAllLiteralString(s, Redacted)
}

// suspicious reports whether s might contain a phiValue match. Every match
// has an '@', or has nine digits and either "+1" or a run of exactly three
// digits followed by a separator (" .-)") and then a digit or separator:
// the area code or the start of an SSN. Timestamps (runs of 4, 2 and 6 or
// 9 digits) and status codes ("HTTP 503 from") fail the test.
func suspicious(s string) bool {
	digits, run := 0, 0
	shape := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			digits++
			run++
			continue
		}
		switch c {
		case '@':
			return true
		case '+':
			if i+1 < len(s) && s[i+1] == '1' {
				shape = true
			}
		case ' ', '.', '-', ')':
			if run == 3 && i+1 < len(s) {
				if n := s[i+1]; n >= '0' && n <= '9' || n == ' ' || n == '.' || n == '-' {
					shape = true
				}
			}
		}
		run = 0
	}
	return shape && digits >= 9
}
