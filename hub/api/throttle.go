package api

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/outcome"
	"github.com/switchboard-health/switchboard/hub/quota"
)

// Admitter is this process's inbound limit (package quota): Admit takes a
// request's token from key's bucket and returns zero, or how long until
// one is free.
type Admitter interface {
	Admit(key string, l quota.Limit) time.Duration
}

// throttleClient applies the caller's inbound limit: its own when it was
// created with one, else ClientLimit. Every authenticated route counts,
// so an admin's script cannot crowd out the apps either.
func (s *Server) throttleClient(c echo.Context, p *auth.Principal) *outcome.Error {
	if s.Inbound == nil {
		return nil
	}
	l := s.ClientLimit
	if p.RatePerSecond > 0 {
		l = quota.Limit{PerSecond: p.RatePerSecond, Burst: p.RateBurst}
	}
	wait := s.Inbound.Admit("client:"+p.ID, l)
	if wait <= 0 {
		return nil
	}
	s.Metrics.InboundThrottled("api")
	setRetryAfter(c, wait)
	return outcome.New(http.StatusTooManyRequests, "throttled", "",
		"this client is over its request rate; retry after the number of seconds in Retry-After")
}

// setRetryAfter sets Retry-After in whole seconds, rounded up: a client
// that waits exactly that long finds a token.
func setRetryAfter(c echo.Context, wait time.Duration) {
	c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
}
