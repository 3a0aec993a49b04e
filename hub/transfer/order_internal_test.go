package transfer

import (
	"slices"
	"testing"
)

func TestDeliveryOrder(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int
		refs []map[string]int
		want []int
	}{
		{"no references: Bundle order", 3, nil, []int{0, 1, 2}},
		{"referenced entries first", 3, []map[string]int{{"urn:uuid:p": 2}, {"urn:uuid:p": 2}, nil}, []int{1, 2, 0}},
		{"chain", 3, []map[string]int{{"urn:uuid:e": 1, "urn:uuid:p": 2}, {"urn:uuid:p": 2}, nil}, []int{2, 1, 0}},
		{"cycle broken at the first entry", 2, []map[string]int{{"b": 1}, {"a": 0}}, []int{1, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := deliveryOrder(c.n, c.refs); !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}
