package transfer

import (
	"encoding/json"
	"slices"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// relatedDepth bounds how far references are followed between the entries
// of one Bundle (a Claim names its Encounter, which names the Patient).
const relatedDepth = 3

// relatedEntries lists, for each entry of a Bundle, the other entries it
// refers to, directly or through others up to relatedDepth, keyed by the
// reference as written where it was first met (a fullUrl such as
// urn:uuid:…, or Type/id). A vendor that needs several FHIR resources for
// one record (a claim with its patient and coverage, a booking with its
// attendee) gets them as connectors.Delivery.Related.
func relatedEntries(entries []Entry) []map[string]int {
	if len(entries) < 2 {
		return nil
	}
	byRef := map[string]int{}
	for i, e := range entries {
		if e.FullURL != "" {
			byRef[e.FullURL] = i
		}
		var head struct{ ID string }
		_ = json.Unmarshal(e.Resource, &head)
		id := e.ResourceID
		if id == "" {
			id = head.ID
		}
		if id != "" {
			byRef[e.ResourceType+"/"+id] = i
		}
	}
	refs := make([][]string, len(entries))
	for i, e := range entries {
		refs[i] = fhirjson.References(e.Resource)
	}
	out := make([]map[string]int, len(entries))
	for i := range entries {
		found := map[string]int{}
		frontier := []int{i}
		for depth := 0; depth < relatedDepth && len(frontier) > 0; depth++ {
			var next []int
			for _, from := range frontier {
				for _, ref := range refs[from] {
					j, ok := byRef[ref]
					if !ok || j == i {
						continue
					}
					if _, seen := found[ref]; seen {
						continue
					}
					found[ref] = j
					next = append(next, j)
				}
			}
			frontier = next
		}
		if len(found) > 0 {
			out[i] = found
		}
	}
	return out
}

// deliveryOrder places the n entries of a transfer in the order they are
// delivered in, returning each entry's place (seq): an entry comes after
// the entries it refers to (refs, from relatedEntries), so that a vendor
// has the Patient before the Appointment naming it and the Appointment
// can refer to the Patient by the vendor's own id. FHIR leaves the order
// of a transaction's entries to the server; otherwise the Bundle's order
// stands. A cycle of references (rare: an Encounter and an Appointment
// naming each other) is broken at the entry that comes first in the Bundle.
func deliveryOrder(n int, refs []map[string]int) []int {
	seq := make([]int, n)
	if refs == nil {
		for i := range seq {
			seq[i] = i
		}
		return seq
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, n)
	next := 0
	var visit func(i int)
	visit = func(i int) {
		if state[i] != unseen {
			return // done, or a cycle: place it where it stands
		}
		state[i] = visiting
		deps := make([]int, 0, len(refs[i]))
		for _, j := range refs[i] {
			deps = append(deps, j)
		}
		slices.Sort(deps)
		for _, j := range deps {
			visit(j)
		}
		state[i] = done
		seq[i] = next
		next++
	}
	for i := range n {
		visit(i)
	}
	return seq
}
