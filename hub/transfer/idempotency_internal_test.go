package transfer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/seal"
)

// walkthroughPatient is the README walkthrough's Patient as the README
// prints it (indented, as curl -d '…' sends it).
const walkthroughPatient = `{
    "resourceType": "Patient",
    "id": "example",
    "identifier": [{"use": "usual", "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
    "active": true,
    "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
    "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work"},
                {"system": "email", "value": "peter.chalmers@example.org"}],
    "gender": "male",
    "birthDate": "1974-12-25",
    "address": [{"use": "home", "line": ["534 Erewhon St"], "city": "PleasantVille",
                 "state": "Vic", "postalCode": "3999", "country": "AU"}]
  }`

func resourceSub(in connectors.Interaction, typ, id, key, body string) Submission {
	return Submission{ClientID: "app", IdempotencyKey: key, Body: []byte(body), Kind: KindResource,
		Entries: []Entry{{Interaction: in, ResourceType: typ, ResourceID: id, Resource: []byte(body)}}}
}

func TestRequestHashComparesMeaning(t *testing.T) {
	mac, _ := seal.NewMAC([]byte(strings.Repeat("k", 32)))
	create := func(body string) Submission { return resourceSub(connectors.Create, "Patient", "", "k1", body) }
	want := requestHash(mac, create(walkthroughPatient))
	if len(want) != 64 || strings.Contains(want, "Chalmers") {
		t.Fatalf("request hash %q is not a keyed hex digest", want)
	}
	// curl -d @file drops the newlines; the rest as printed.
	curlFile := strings.ReplaceAll(walkthroughPatient, "\n", "")
	reordered := `{"address":[{"country":"AU","postalCode":"3999","state":"Vic","city":"PleasantVille","line":["534 Erewhon St"],"use":"home"}],` +
		`"birthDate":"1974-12-25","gender":"male","telecom":[{"use":"work","value":"(03) 5555 6473","system":"phone"},` +
		`{"value":"peter.chalmers@example.org","system":"email"}],"name":[{"given":["Peter","James"],"family":"Chalmers","use":"official"}],` +
		`"active":true,"identifier":[{"value":"12345","system":"urn:oid:1.2.36.146.595.217.0.1","use":"usual"}],"id":"example","resourceType":"Patient"}`
	for _, c := range []struct {
		name string
		sub  Submission
		same bool
	}{
		{"the same bytes", create(walkthroughPatient), true},
		{"newlines stripped (curl -d @file)", create(curlFile), true},
		{"compact, keys in another order", create(reordered), true},
		{"string escapes", create(strings.Replace(walkthroughPatient, `"Chalmers"`, `"Ch\u0061lmers"`, 1)), true},
		{"another value", create(strings.Replace(walkthroughPatient, "Chalmers", "Chalmerz", 1)), false},
		{"another array order", create(strings.Replace(walkthroughPatient, `["Peter", "James"]`, `["James", "Peter"]`, 1)), false},
		{"a value's type", create(strings.Replace(walkthroughPatient, `"active": true`, `"active": "true"`, 1)), false},
		{"an update of the same body", resourceSub(connectors.Update, "Patient", "example", "k1", walkthroughPatient), false},
		{"another resource type in the URL", resourceSub(connectors.Create, "Person", "", "k1", walkthroughPatient), false},
		{"a Bundle kind", Submission{ClientID: "app", IdempotencyKey: "k1", Body: []byte(walkthroughPatient), Kind: KindBatch}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := requestHash(mac, c.sub); (got == want) != c.same {
				t.Fatalf("same hash: %v, want %v", got == want, c.same)
			}
		})
	}
	// An update names its id: the same body to another URL is another request.
	a := requestHash(mac, resourceSub(connectors.Update, "Patient", "example", "k1", walkthroughPatient))
	if b := requestHash(mac, resourceSub(connectors.Update, "Patient", "other", "k1", walkthroughPatient)); a == b {
		t.Fatal("updates of two ids hash the same")
	}
	if h := requestHash(mac, resourceSub(connectors.Create, "Patient", "", "", walkthroughPatient)); h != "" {
		t.Fatalf("without a key nothing is compared, so nothing is hashed: %q", h)
	}
	// Not JSON (no API request is): compared by its bytes.
	x, y := requestHash(mac, create("not json")), requestHash(mac, create("not  json"))
	if x == "" || x == y || x != requestHash(mac, create("not json")) {
		t.Fatalf("bytes form: %q %q", x, y)
	}
	other, _ := seal.NewMAC([]byte(strings.Repeat("o", 32)))
	if requestHash(other, create(walkthroughPatient)) == want {
		t.Fatal("another key gives the same hash")
	}
}

// BenchmarkRequestHash measures what the idempotency check adds to an
// accept with a key: the MAC of the raw body (as before, "legacy") against
// canonicalisation and the MAC, for the walkthrough's Patient and
// transaction Bundle.
func BenchmarkRequestHash(b *testing.B) {
	bundle, err := os.ReadFile(filepath.Join("..", "..", "testdata", "walkthrough", "transaction.json"))
	if err != nil {
		b.Fatal(err)
	}
	mac, _ := seal.NewMAC([]byte(strings.Repeat("k", 32)))
	for _, c := range []struct {
		name string
		sub  Submission
	}{
		{"patient", resourceSub(connectors.Create, "Patient", "", "k1", walkthroughPatient)},
		{"transaction", Submission{ClientID: "app", IdempotencyKey: "k1", Body: bundle, Kind: KindTransaction}},
	} {
		b.Run(c.name+"/legacy", func(b *testing.B) {
			b.SetBytes(int64(len(c.sub.Body)))
			b.ReportAllocs()
			for b.Loop() {
				_ = mac.Sum([]byte(requestLegacy), c.sub.Body)
			}
		})
		b.Run(c.name+"/canonical", func(b *testing.B) {
			b.SetBytes(int64(len(c.sub.Body)))
			b.ReportAllocs()
			for b.Loop() {
				_ = requestHash(mac, c.sub)
			}
		})
	}
}
