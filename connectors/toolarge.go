package connectors

import (
	"errors"
	"fmt"
)

// ErrResponseTooLarge is wrapped by the error of a vendor answer whose body
// is over the outbound client's limit (outbound.Options.MaxResponseBytes).
// The answer is not cut and read as if whole: a cut Bundle is not JSON,
// and read as "not a Bundle" it hid what to do (ask for fewer). Callers
// that page (polls, searches) branch on it to ask for a smaller _count.
var ErrResponseTooLarge = errors.New("the vendor's answer is larger than the limit")

// ResponseTooLargeError is the ErrResponseTooLarge of one answer, with the
// limit it went over.
type ResponseTooLargeError struct {
	// Limit is the most of an answer body the client reads, in bytes.
	Limit int64
}

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("the vendor's answer is larger than %s", FormatBytes(e.Limit))
}

// Is makes errors.Is(err, ErrResponseTooLarge) true.
func (e *ResponseTooLargeError) Is(target error) bool { return target == ErrResponseTooLarge }

// ResponseLimit is the limit of the ResponseTooLargeError in err's chain,
// 0 when there is none.
func ResponseLimit(err error) int64 {
	var e *ResponseTooLargeError
	if errors.As(err, &e) {
		return e.Limit
	}
	return 0
}

// FormatBytes writes a size as people do: "4 MiB", "512 KiB", "100 bytes".
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
