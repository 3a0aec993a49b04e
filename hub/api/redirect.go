package api

import (
	"net/http"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// RedirectToHTTPS is the plain-HTTP listener's handler
// (SWITCHBOARD_HTTP_REDIRECT_ADDR) when the hub serves TLS: a GET or HEAD
// without credentials (a person typing the console's address) is sent to
// the same path under publicURL with 308; anything else is refused with
// 403 and an OperationOutcome, not redirected: a write or a bearer token
// sent in clear has already crossed the network exposed, and a redirect
// would let the misconfigured client carry on as if nothing happened. The
// target is always publicURL, never the request's Host.
func RedirectToHTTPS(publicURL string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.Header.Get("Authorization") == "" {
			http.Redirect(w, r, publicURL+r.URL.RequestURI(), http.StatusPermanentRedirect)
			return
		}
		oe := outcome.New(http.StatusForbidden, "security", "",
			"this hub takes HTTPS only: call "+publicURL+"; treat any token sent here in clear as exposed and replace it")
		h.Set("Content-Type", "application/fhir+json")
		w.WriteHeader(oe.Status)
		_, _ = w.Write(oe.OperationOutcome())
	})
}
