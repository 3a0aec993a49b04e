package transferlog_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

func TestDigestCanonical(t *testing.T) {
	mac := testMAC(t)
	const doc = `{"resourceType":"Patient","name":[{"family":"O'Brien <x>","given":["Ann"]}],"multipleBirthInteger":2,"weight":70.50}`
	want, err := transferlog.Digest(mac, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		doc  string
		same bool
	}{
		{"identical", doc, true},
		{"whitespace", "{\n  \"resourceType\" : \"Patient\",\n\t\"name\": [ {\"family\": \"O'Brien <x>\", \"given\": [\"Ann\"]} ],\r\n \"multipleBirthInteger\": 2, \"weight\": 70.50 }\n", true},
		{"key order", `{"weight":70.50,"multipleBirthInteger":2,"name":[{"given":["Ann"],"family":"O'Brien <x>"}],"resourceType":"Patient"}`, true},
		{"escaped characters", `{"resourceType":"Patient","name":[{"family":"O\u0027Brien \u003cx\u003e","given":["Ann"]}],"multipleBirthInteger":2,"weight":70.50}`, true},
		{"another value", strings.Replace(doc, "Ann", "Anne", 1), false},
		{"array order", strings.Replace(doc, `"given":["Ann"]`, `"given":["Ann","B"]`, 1), false},
		{"number as written", strings.Replace(doc, "70.50", "70.5", 1), false},
		{"number as a string", strings.Replace(doc, "2,", `"2",`, 1), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := transferlog.Digest(mac, []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if (got == want) != tc.same {
				t.Fatalf("digest equal: %v, want %v", got == want, tc.same)
			}
		})
	}
	other, _ := seal.NewMAC([]byte(strings.Repeat("o", 32)))
	if d, _ := transferlog.Digest(other, []byte(doc)); d == want {
		t.Fatal("another key gives the same digest")
	}
	for _, bad := range []string{"", "not json", `{"a":1`, `{"a":1} {"b":2}`, `{"a":1}x`} {
		if _, err := transferlog.Digest(mac, []byte(bad)); err == nil {
			t.Errorf("%q digested", bad)
		} else if strings.Contains(err.Error(), "not json") && bad == "not json" {
			t.Errorf("the error quotes the document: %v", err)
		}
	}
}

func TestSubjectHash(t *testing.T) {
	mac := testMAC(t)
	a, b := transferlog.SubjectHash(mac, "Patient/123"), transferlog.SubjectHash(mac, "Patient/124")
	if a == b || a != transferlog.SubjectHash(mac, "Patient/123") || strings.Contains(a, "123") || len(a) != 64 {
		t.Fatalf("%s %s", a, b)
	}
	if d, _ := transferlog.Digest(mac, []byte(`"Patient/123"`)); d == a {
		t.Fatal("a subject hash equals a payload digest")
	}
}

func FuzzDigest(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Patient","id":"1"}`))
	f.Add([]byte(`[1, 2.50, "x", null, true, {"b":1,"a":2}]`))
	mac, _ := seal.NewMAC([]byte(strings.Repeat("m", 32)))
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := transferlog.Digest(mac, doc)
		if err != nil {
			return
		}
		// The same document laid out otherwise digests the same.
		var indented bytes.Buffer
		if err := json.Indent(&indented, doc, "", "  "); err != nil {
			return
		}
		if again, err := transferlog.Digest(mac, indented.Bytes()); err != nil || again != d {
			t.Fatalf("indented: %v, digest equal %v", err, again == d)
		}
	})
}
