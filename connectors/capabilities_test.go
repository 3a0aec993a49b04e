package connectors

import (
	"context"
	"testing"
)

// plain delivers and has no other capability.
type plain struct{}

func (plain) Deliver(context.Context, Delivery) (Result, error) { return Result{}, nil }
func (plain) Type() string                                      { return "plain" }

// capable has every capability the routing file's rules ask of one.
type capable struct{ plain }

func (capable) PollTypes() []string                                    { return []string{"Patient"} }
func (capable) Poll(context.Context, PollQuery) (PollPage, error)      { return PollPage{}, nil }
func (capable) Pair(string, []byte) Pairing                            { return Pairing{} }
func (capable) PairMatch(string, string) string                        { return "" }
func (capable) WriteIdentifier(context.Context, IdentifierWrite) error { return nil }
func (capable) Read(context.Context, string, string) ([]byte, error)   { return nil, nil }

func TestCapabilityChecks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       Connector
		wantErr bool
	}{
		{"without the capabilities", plain{}, true},
		{"with them", capable{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PollerOf(tc.c, "plain")
			if (err != nil) != tc.wantErr || (p == nil) != tc.wantErr {
				t.Errorf("PollerOf: %v, %v", p, err)
			}
			if err != nil && err.Error() != "connector type plain cannot be polled" {
				t.Errorf("PollerOf error %q", err)
			}
			pr, err := PairerOf(tc.c)
			if (err != nil) != tc.wantErr || (pr == nil) != tc.wantErr {
				t.Errorf("PairerOf: %v, %v", pr, err)
			}
			rd, wr, err := IdentifierStoreOf(tc.c)
			if (err != nil) != tc.wantErr || (rd == nil) != tc.wantErr || (wr == nil) != tc.wantErr {
				t.Errorf("IdentifierStoreOf: %v, %v, %v", rd, wr, err)
			}
		})
	}
}
