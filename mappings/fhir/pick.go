package fhir

// Pick returns the index of the first item preferred reports true for,
// else 0 (the first item), else -1 (no items). FHIR lists several names,
// addresses or telecoms where a vendor takes one: "the official name, else
// the first" is Pick(names, isOfficial), whatever model the names are
// decoded into.
func Pick[T any](items []T, preferred func(T) bool) int {
	for i, it := range items {
		if preferred(it) {
			return i
		}
	}
	if len(items) > 0 {
		return 0
	}
	return -1
}

// OfficialName returns the index of the official name (HumanName.use
// "official"), else 0, else -1: the one name a vendor with a single name
// field receives. use reads a name's use from whatever model the names are
// decoded into.
func OfficialName[T any](names []T, use func(T) string) int {
	return Pick(names, func(n T) bool { return use(n) == "official" })
}
