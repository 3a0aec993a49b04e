package validation

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// Bundle validates a batch or transaction Bundle and returns its entries,
// each with its resource's original bytes.
func (v *Validator) Bundle(body []byte) (*Bundle, error) {
	if v.google {
		return v.bundleViaGoogle(body)
	}
	rt, _, early, late := compileCheck(body)
	if early != nil {
		return nil, early
	}
	if rt != "Bundle" {
		return nil, notBundle()
	}
	typ := topString(body, "type")
	if typ != "batch" && typ != "transaction" {
		return nil, notBatch()
	}
	if late != nil {
		return nil, late
	}
	return bundleEntries(body, typ)
}

func notBundle() *outcome.Error {
	return outcome.New(http.StatusBadRequest, "invalid", "Bundle.resourceType",
		"the base endpoint takes a Bundle of type batch or transaction")
}

func notBatch() *outcome.Error {
	return outcome.New(http.StatusUnprocessableEntity, "not-supported", "Bundle.type",
		"only batch and transaction Bundles are accepted")
}

// bundleViaGoogle is Bundle on the two-pass path (see resourceViaGoogle).
func (v *Validator) bundleViaGoogle(body []byte) (*Bundle, error) {
	obj, sc, oe := object(body)
	if oe != nil {
		return nil, oe
	}
	rt, oe := resourceType(obj)
	if oe != nil {
		return nil, oe
	}
	if rt != "Bundle" {
		return nil, notBundle()
	}
	typ, _ := obj["type"].(string)
	if typ != "batch" && typ != "transaction" {
		return nil, notBatch()
	}
	w := walker{parsed: jsonIssues(body, obj, "Bundle", sc.issues)}
	w.resource(obj, resources()["Bundle"], "Bundle")
	if err := v.check(&w, forGoogle(body, sc.placeholders)); err != nil {
		return nil, err
	}
	return bundleEntries(body, typ)
}

// bundleEntries reads a validated batch or transaction Bundle's entries
// and checks what the hub asks of them.
func bundleEntries(body []byte, typ string) (*Bundle, error) {
	// Re-read the entries as raw JSON so each resource keeps its own bytes.
	var raw struct {
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
			Request  *struct {
				Method      string `json:"method"`
				URL         string `json:"url"`
				IfNoneExist string `json:"ifNoneExist"`
			} `json:"request"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, outcome.New(http.StatusBadRequest, "structure", "Bundle.entry", "invalid entries")
	}
	b := &Bundle{Type: typ}
	var issues []outcome.Issue
	// The Bundle's status is 400 when any entry is malformed, else 422.
	status := http.StatusUnprocessableEntity
	bad := func(st int, code, expr, diag string) {
		if st == http.StatusBadRequest {
			status = st
		}
		if len(issues) < maxIssues {
			issues = append(issues, outcome.Issue{Severity: "error", Code: code, Expression: expr, Diagnostics: diag})
		}
	}
	// fullUrl -> the meta.versionId of the first entry with it.
	fullURLs := map[string]string{}
	for i, e := range raw.Entry {
		at := fmt.Sprintf("Bundle.entry[%d]", i)
		if e.FullURL != "" {
			version := entryVersion(e.Resource)
			first, seen := fullURLs[e.FullURL]
			// bdl-7: a fullUrl is unique in a Bundle, unless the entries are
			// versions of one resource (distinct meta.versionId). A
			// transaction resolves its references by fullUrl, so there a
			// repeat is ambiguous whatever the versions.
			if seen && (typ == "transaction" || version == "" || first == version) {
				bad(400, "invalid", at+".fullUrl", "another entry has the same fullUrl (bdl-7)")
				continue
			}
			if !seen {
				fullURLs[e.FullURL] = version
			}
		}
		if e.Request == nil {
			bad(422, "required", at+".request", "a batch or transaction entry needs request.method and request.url")
			continue
		}
		method := e.Request.Method
		if method != http.MethodPost && method != http.MethodPut {
			bad(422, "not-supported", at+".request.method", "only POST and PUT entries are accepted")
			continue
		}
		if len(e.Resource) == 0 {
			bad(422, "required", at+".resource", "a POST or PUT entry needs a resource")
			continue
		}
		var head struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		_ = json.Unmarshal(e.Resource, &head) // google has checked its shape
		urlType, urlID, ok := entryURL(e.Request.URL)
		if !ok {
			bad(400, "invalid", at+".request.url", "the url must be Type or Type/id (not a query, an operation or an absolute URL)")
			continue
		}
		if urlType != head.ResourceType {
			bad(400, "invalid", at+".request.url", "the entry's url names another resource type than its resource")
			continue
		}
		if method == http.MethodPut {
			if urlID == "" {
				bad(400, "required", at+".request.url", "a PUT entry's url must be Type/id (conditional updates are not supported)")
				continue
			}
			if head.ID != urlID {
				bad(400, "invalid", at+".resource.id", "the resource id differs from the id in request.url")
				continue
			}
		}
		b.Entries = append(b.Entries, Entry{
			FullURL: e.FullURL, Method: method, URL: e.Request.URL, IfNoneExist: e.Request.IfNoneExist,
			Resource: &Resource{Type: head.ResourceType, ID: head.ID, Raw: e.Resource},
		})
	}
	if len(issues) > 0 {
		return nil, &outcome.Error{Status: status, Issues: issues}
	}
	return b, nil
}

// entryVersion reads meta.versionId of an entry's resource ("" when none).
func entryVersion(resource json.RawMessage) string {
	if len(resource) == 0 {
		return ""
	}
	var r struct {
		Meta struct {
			VersionID string `json:"versionId"`
		} `json:"meta"`
	}
	_ = json.Unmarshal(resource, &r) // google has checked its shape
	return r.Meta.VersionID
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// entryURL splits a batch or transaction entry's request.url, "Type" or
// "Type/id" (a leading "/" tolerated), into its type and id. A query (a
// conditional create belongs in ifNoneExist, a conditional update is not
// supported), an absolute URL, an operation or a history path is not ok.
func entryURL(u string) (typ, id string, ok bool) {
	u = strings.TrimPrefix(u, "/")
	if strings.ContainsAny(u, "?#:") {
		return "", "", false
	}
	typ, id, hasID := strings.Cut(u, "/")
	if !IsResourceType(typ) || (hasID && !idPattern.MatchString(id)) {
		return "", "", false
	}
	return typ, id, true
}
