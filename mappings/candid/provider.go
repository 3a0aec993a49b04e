package candid

import "errors"

func longAddr(a address) (longAddress, bool) {
	if len(a.Line) == 0 || a.City == "" || a.State == "" {
		return longAddress{}, false
	}
	s := shortAddr(a)
	if s.ZipCode == "" || s.ZipPlusFourCode == "" {
		return longAddress{}, false // the spec's StreetAddressLongZip needs ZIP+4
	}
	return longAddress(s), true
}

func billingOf(c claim, r resolver, def Provider) (billingProvider, error) {
	var org organization
	if r.get(c.Provider, "Organization", &org) == nil && identifierValue(org.Identifier, SystemNPI) != "" {
		bp := billingProvider{OrganizationName: org.Name, NPI: identifierValue(org.Identifier, SystemNPI),
			TaxID: identifierValue(org.Identifier, SystemTIN)}
		a, okA := pickAddress(org.Address)
		la, okL := longAddr(a)
		if okA && okL && bp.TaxID != "" {
			bp.Address = la
			return bp, nil
		}
		// Incomplete: fill the gaps from the configured defaults.
		if bp.TaxID == "" {
			bp.TaxID = def.TaxID
		}
		if !(okA && okL) {
			bp.Address = defaultAddress(def)
		}
		if bp.TaxID == "" || bp.Address.Address1 == "" {
			return billingProvider{}, errors.New("the billing provider needs a tax id and an address with ZIP+4")
		}
		return bp, nil
	}
	if def.NPI == "" || def.TaxID == "" || def.Address1 == "" {
		return billingProvider{}, errors.New("no billing provider: reference an Organization with an NPI from Claim.provider or configure billing_provider")
	}
	return billingProvider{OrganizationName: def.OrganizationName, NPI: def.NPI, TaxID: def.TaxID, Address: defaultAddress(def)}, nil
}

func defaultAddress(p Provider) longAddress {
	return longAddress{Address1: p.Address1, Address2: p.Address2, City: p.City, State: p.State,
		ZipCode: p.Zip, ZipPlusFourCode: p.ZipPlusFour}
}

func renderingOf(c claim, r resolver, bp billingProvider) provider {
	for _, ct := range c.CareTeam {
		var pr person
		if r.get(ct.Provider, "Practitioner", &pr) != nil {
			continue
		}
		npi := identifierValue(pr.Identifier, SystemNPI)
		if npi == "" {
			continue
		}
		out := provider{NPI: npi}
		if n, ok := pickName(pr.Name); ok && len(n.Given) > 0 {
			out.FirstName, out.LastName = n.Given[0], n.Family
		}
		return out
	}
	return provider{NPI: bp.NPI, OrganizationName: bp.OrganizationName}
}
