package transfer

import "encoding/json"

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
		refs[i] = references(e.Resource)
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

// references collects every Reference.reference in a resource.
func references(resource []byte) []string {
	var v any
	if json.Unmarshal(resource, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for k, e := range t {
				if s, ok := e.(string); ok && k == "reference" {
					out = append(out, s)
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
