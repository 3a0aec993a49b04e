package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// fuzzSearchAPI is the search handler with a fake source behind it, for
// the fuzz targets (served in-process: no listener per input).
func fuzzSearchAPI(f *testing.F, searcher connectors.Searcher) (*Server, http.Handler) {
	f.Helper()
	tab, kr := testRoutes(f)
	s := &Server{Routes: tab, Searchers: map[string]connectors.Searcher{"scheduling": searcher}, Keys: kr,
		Logger: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), Auth: anyApp{}}
	return s, s.Handler()
}

// FuzzSearchQuery: whatever query string a client sends, a search is
// answered 200 or a 4xx OperationOutcome (never a 5xx, never a panic), and
// the answer never repeats a parameter's value the source was not sent.
func FuzzSearchQuery(f *testing.F) {
	for _, q := range []string{
		"patient=Patient/1", "patient=Patient/1&date=ge2026-01-01&_count=5", "_count=-1", "_count=0",
		"actor=Patient/x", "name:exact=x", "_cursor=abc", "_cursor=", "patient=a&patient=b", "%zz=1",
		"date=ge2026&date=lt2027", "_count=99999999999999999999", "=x", "&&&", "_count=1&_cursor=x",
	} {
		f.Add(q, false)
		f.Add(q, true)
	}
	fs := &fakeSearcher{}
	_, h := fuzzSearchAPI(f, fs)
	f.Fuzz(func(t *testing.T, query string, lenient bool) {
		fs.asked = nil
		req := httptest.NewRequest(http.MethodGet, "/fhir/R4/Appointment", nil)
		req.URL.RawQuery = query
		if lenient {
			req.Header.Set("Prefer", "handling=lenient")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusOK:
			var b struct {
				ResourceType string `json:"resourceType"`
				Link         []bundleLink
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.ResourceType != "Bundle" {
				t.Fatalf("200 that is not a Bundle: %s", rec.Body)
			}
			if len(fs.asked) != 1 {
				t.Fatalf("200 after %d searches", len(fs.asked))
			}
			// The self link states only what the source was sent.
			for _, l := range b.Link {
				if l.Relation != "self" {
					continue
				}
				self, _ := strings.CutPrefix(l.URL, "/fhir/R4/Appointment")
				self = strings.TrimPrefix(self, "?")
				vals, err := url.ParseQuery(self)
				if err != nil {
					t.Fatalf("self link %q: %v", l.URL, err)
				}
				for name := range vals {
					if name != "_cursor" && name != connectors.CountParam && !fs.asked[0].Params.Has(name) {
						t.Fatalf("self link states %q, which the source was not sent (query %q)", name, query)
					}
				}
			}
		case rec.Code >= 400 && rec.Code < 500:
			if !strings.Contains(rec.Body.String(), `"resourceType":"OperationOutcome"`) {
				t.Fatalf("%d that is not an OperationOutcome: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("query %q: %d %s", query, rec.Code, rec.Body)
		}
	})
}

// FuzzSearchCursor: a paging cursor opens only to what the hub sealed,
// for the resource type it sealed it for; anything else, a cursor altered
// in one byte included, is refused (never a panic). (A respelling of the
// same envelope, such as a JSON key in other letter case, opens to the
// same cursor: nothing forged.)
func FuzzSearchCursor(f *testing.F) {
	s, _ := fuzzSearchAPI(f, &fakeSearcher{})
	good, err := s.sealCursor("Appointment", searchCursor{Cursor: "page-2", Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "Appointment", 0)
	f.Add(good, "Patient", -1)
	f.Add("", "Appointment", -1)
	f.Add("eyJ9", "Appointment", -1)
	f.Add(strings.Repeat("A", 200), "Appointment", 3)
	f.Fuzz(func(t *testing.T, tok, typ string, flip int) {
		if flip >= 0 && flip < len(tok) {
			b := []byte(tok)
			b[flip] ^= 0x01
			tok = string(b)
		}
		cur, err := s.openCursor(typ, tok)
		if err != nil {
			return
		}
		if typ != "Appointment" || cur.Cursor != "page-2" {
			t.Fatalf("opened a cursor the hub did not seal for %q: %q -> %+v", typ, tok, cur)
		}
	})
}
