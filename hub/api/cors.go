package api

import (
	"slices"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// corsMaxAge is how long a browser may cache a preflight's answer, in
// seconds: ten minutes, so a change of origins or routes is picked up soon.
const corsMaxAge = 600

// corsHeaders are the request headers a page may send: the bearer token,
// the FHIR content type, a write's idempotency key, FHIR's Prefer
// (return=OperationOutcome and the like) and a request id.
var corsHeaders = []string{"Authorization", "Content-Type", "Idempotency-Key", "Prefer", RequestIDHeader}

// corsExposed are the answer headers a page may read: where a write's
// transfer status is, when to retry, whether a write was a replay, why a
// token was refused, and the request's id.
var corsExposed = []string{"Content-Location", "Location", "Retry-After", "Idempotent-Replayed", "WWW-Authenticate", RequestIDHeader}

// Without CORS, OPTIONS is answered by echo's router: 204 with the route's
// Allow (RFC 9110 §9.3.7), no Access-Control-* headers.
//
// cors answers cross-origin requests from the configured origins only
// (nil when none are: CORS is off, and a browser keeps other sites' pages
// from reading the hub's answers). Echo's middleware does the work:
//
//   - a preflight (OPTIONS with Origin) from a listed origin gets 204 with
//     Access-Control-Allow-Origin naming it, Allow-Methods listing the
//     route's own methods (the router's Allow), Allow-Headers, Max-Age;
//     from any other origin, 204 without them, which the browser treats as
//     a refusal; it is answered before authentication, as preflights carry
//     no credentials;
//   - a request from a listed origin gets Allow-Origin and Expose-Headers
//     (errors, 401s included, too, so the page can read why);
//   - every answer carries Vary: Origin, so no cache mixes them up.
//
// Credentials (cookies) are not allowed: API callers send a bearer token
// in Authorization, which CORS does not count as a credential; River UI's
// session cookie stays same-origin. Unknown paths are left to the 404.
func (s *Server) cors() echo.MiddlewareFunc {
	if len(s.CORSOrigins) == 0 {
		return nil
	}
	origins := slices.Clone(s.CORSOrigins)
	return middleware.CORSWithConfig(middleware.CORSConfig{
		Skipper: func(c echo.Context) bool { return c.Path() == "" },
		AllowOriginFunc: func(origin string) (bool, error) {
			return slices.Contains(origins, origin), nil
		},
		AllowHeaders:  corsHeaders,
		ExposeHeaders: corsExposed,
		MaxAge:        corsMaxAge,
	})
}
