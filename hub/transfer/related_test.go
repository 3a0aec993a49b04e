package transfer

import (
	"reflect"
	"testing"
)

func TestRelatedEntries(t *testing.T) {
	entries := []Entry{
		{ResourceType: "Patient", FullURL: "urn:uuid:pat", Resource: []byte(`{"resourceType":"Patient"}`)},
		{ResourceType: "Coverage", FullURL: "urn:uuid:cov", Resource: []byte(`{"resourceType":"Coverage","beneficiary":{"reference":"urn:uuid:pat"}}`)},
		{ResourceType: "Encounter", Resource: []byte(`{"resourceType":"Encounter","id":"enc1","subject":{"reference":"urn:uuid:pat"}}`)},
		{ResourceType: "Claim", Resource: []byte(`{"resourceType":"Claim","patient":{"reference":"urn:uuid:pat"},` +
			`"insurance":[{"coverage":{"reference":"urn:uuid:cov"}}],"item":[{"encounter":[{"reference":"Encounter/enc1"}]}],` +
			`"provider":{"reference":"Organization/outside"}}`)},
		{ResourceType: "Observation", Resource: []byte(`{"resourceType":"Observation","subject":{"reference":"Patient/elsewhere"}}`)},
	}
	got := relatedEntries(entries)
	want := []map[string]int{
		nil,
		{"urn:uuid:pat": 0},
		{"urn:uuid:pat": 0},
		{"urn:uuid:pat": 0, "urn:uuid:cov": 1, "Encounter/enc1": 2},
		nil, // a reference outside the Bundle
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if relatedEntries(entries[:1]) != nil {
		t.Fatal("a single resource has no related entries")
	}
}
