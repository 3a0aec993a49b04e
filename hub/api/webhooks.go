package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/webhook"
)

// Webhooks receives vendors' webhooks (package webhook).
type Webhooks interface {
	Receive(ctx context.Context, source string, r connectors.WebhookRequest) (string, error)
	// Reject counts a request refused before Receive (its body over the
	// limit), with a reason from package webhook.
	Reject(source, reason string)
}

// webhook answers POST /webhooks/{destination}: 200 once the event is
// stored with its job (or was seen before), 401 when its signature does
// not verify, 404 for a destination that takes no webhooks. Vendors only
// read the status; the small JSON body is for people.
func (s *Server) webhook(c echo.Context) error {
	if s.Webhooks == nil {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "webhooks are not configured"})
	}
	req := c.Request()
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, s.bodyLimit()))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.Webhooks.Reject(c.Param("source"), webhook.ReasonOversize)
		}
		return c.JSON(http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large or unreadable"})
	}
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	// The URL as the vendor called it, for schemes that sign it (HubSpot
	// v3): see calledURL.
	outcome, err := s.Webhooks.Receive(ctx, c.Param("source"), connectors.WebhookRequest{
		Method: req.Method, URL: s.calledURL(req), Header: req.Header, Body: body,
	})
	// Only configured sources become a label: the path is the caller's.
	var throttled *webhook.ThrottledError
	switch {
	case errors.As(err, &throttled):
		s.Metrics.InboundThrottled("webhook")
		setRetryAfter(c, throttled.RetryAfter)
		return c.JSON(http.StatusTooManyRequests, map[string]string{"error": "too many webhooks from this source; retry later"})
	case errors.Is(err, connectors.ErrUnauthenticated):
		s.Metrics.Webhook(c.Param("source"), webhook.Rejected)
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "signature not verified"})
	case errors.Is(err, webhook.ErrUnknownSource):
		return c.JSON(http.StatusNotFound, map[string]string{"error": "no such webhook source"})
	case err != nil:
		s.Metrics.Webhook(c.Param("source"), "error")
		s.Logger.Error("webhook intake failed", "source", c.Param("source"), "error", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"error": "could not store the webhook; retry"})
	}
	s.Metrics.Webhook(c.Param("source"), outcome)
	return c.JSON(http.StatusOK, map[string]string{"outcome": outcome})
}
