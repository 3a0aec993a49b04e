package fhir

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// TestAnswerOverTheLimit: a poll or search answer over the destination's
// max_response_bytes is connectors.ErrResponseTooLarge, which the
// reconciler and the search API act on, not "not_a_bundle" from a body
// cut short (issue 14 §1). A smaller _count of the same records fits.
func TestAnswerOverTheLimit(t *testing.T) {
	s := newPollSandbox(t, `, max_response_bytes: 4000`)
	since := time.Now().Add(-time.Minute)
	for i := range 10 {
		s.write(http.MethodPost, "/Patient", fmt.Sprintf(`{"resourceType":"Patient","active":true,"name":[{"family":"Large%d","given":[%q]}]}`,
			i, strings.Repeat("g", 600)))
	}
	ctx := context.Background()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, connectors.ErrResponseTooLarge) {
			t.Fatalf("%s over the limit: %v, want ErrResponseTooLarge", what, err)
		}
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Code != "response_too_large" || connectors.ResponseLimit(err) != 4000 {
			t.Fatalf("%s over the limit: %#v", what, err)
		}
	}
	_, err := s.conn.Poll(ctx, connectors.PollQuery{ResourceType: "Patient", Since: since, Count: 10})
	check("poll", err)
	page, err := s.conn.Poll(ctx, connectors.PollQuery{ResourceType: "Patient", Since: since, Count: 2})
	if err != nil || len(page.Changes) != 2 {
		t.Fatalf("poll of 2: %d changes, %v", len(page.Changes), err)
	}

	_, err = s.conn.Search(ctx, connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{"_count": {"10"}}})
	check("search", err)
	res, err := s.conn.Search(ctx, connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{"_count": {"2"}}})
	if err != nil || len(res.Resources) != 2 {
		t.Fatalf("search of 2: %d resources, %v", len(res.Resources), err)
	}
}
