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

func TestOfficialName(t *testing.T) {
	type name struct{ use, text string }
	use := func(n name) string { return n.use }
	cases := []struct {
		names []name
		want  int
	}{
		{nil, -1},
		{[]name{{"usual", "a"}, {"official", "b"}}, 1},
		{[]name{{"usual", "a"}, {"nickname", "b"}}, 0},
		{[]name{{"official", "a"}, {"official", "b"}}, 0},
	}
	for _, c := range cases {
		if got := OfficialName(c.names, use); got != c.want {
			t.Errorf("OfficialName(%v) = %d, want %d", c.names, got, c.want)
		}
	}
}
