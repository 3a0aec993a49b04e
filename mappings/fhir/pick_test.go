package fhir

import "testing"

func TestPick(t *testing.T) {
	official := func(s string) bool { return s == "official" }
	cases := []struct {
		items []string
		want  int
	}{
		{nil, -1},
		{[]string{"usual"}, 0},
		{[]string{"usual", "official", "official"}, 1},
		{[]string{"nickname", "old"}, 0},
	}
	for _, c := range cases {
		if got := Pick(c.items, official); got != c.want {
			t.Errorf("Pick(%q) = %d, want %d", c.items, got, c.want)
		}
	}
}
