package api

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/logging"
)

// RequestIDHeader carries a request's id: the caller's when it sends a
// usable one, else one the hub makes. The answer echoes it, the access log
// line and the request's span carry it, so one id finds a request in the
// caller's logs and the hub's.
const RequestIDHeader = "X-Request-Id"

// maxRequestID bounds a caller's id: room for a UUID, a ULID or a proxy's
// trace-style id, not for a payload.
const maxRequestID = 128

const requestIDKey = "switchboard.request_id"

// requestID accepts the caller's X-Request-Id when it is a usable id and
// replaces it otherwise. Usable: 1 to 128 characters of letters, digits and
// "-", "_", ".", ":" (no spaces, no slashes, no "@": nothing that reads as a
// name, a URL or an email), and nothing the log redactor would mask (a
// phone or social security number). The id is logged and exported: a
// caller's free text must not be.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(RequestIDHeader)
		if !usableRequestID(id) {
			id = newRequestID()
		}
		c.Set(requestIDKey, id)
		c.Response().Header().Set(RequestIDHeader, id)
		return next(c)
	}
}

// RequestID is the request's id (see RequestIDHeader).
func RequestID(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

func usableRequestID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_', b == '.', b == ':':
		default:
			return false
		}
	}
	return logging.MaskText(id) == id
}

// newRequestID makes a random 128-bit id, hex-encoded.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail (Go 1.24+)
	return hex.EncodeToString(b[:])
}
