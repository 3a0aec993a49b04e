package api

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// acceptedEncodings are the Content-Encodings readBody decodes, as a 415
// names them (and its Accept-Encoding header, RFC 7694).
const acceptedEncodings = "gzip, identity"

// readBody enforces the content type, its charset and the size limit, and
// decodes a gzip body. The limit bounds both what is read from the wire and
// what gzip decodes from it: a small compressed body may inflate to far more
// than the limit, and the validator must never hold more than the limit.
func (s *Server) readBody(c echo.Context) ([]byte, *outcome.Error) {
	req := c.Request()
	mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || !(mt == "application/fhir+json" || mt == "application/json" || mt == "application/json+fhir") {
		return nil, outcome.New(http.StatusUnsupportedMediaType, "not-supported", "",
			"Content-Type must be application/fhir+json")
	}
	// JSON is UTF-8 (RFC 8259 §8.1); a body declared in another charset
	// would be read as UTF-8 all the same, and its text misread.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return nil, outcome.New(http.StatusUnsupportedMediaType, "not-supported", "",
			"the Content-Type charset must be UTF-8 (FHIR JSON is UTF-8)")
	}
	gzipped, ok := contentEncoding(req.Header.Values("Content-Encoding"))
	if !ok {
		c.Response().Header().Set("Accept-Encoding", acceptedEncodings)
		return nil, outcome.New(http.StatusUnsupportedMediaType, "not-supported", "",
			"unsupported Content-Encoding: the hub decodes gzip, or takes the body as is (identity or no Content-Encoding)")
	}
	limit := s.bodyLimit()
	if req.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	var r io.Reader = http.MaxBytesReader(c.Response(), req.Body, limit)
	if gzipped {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, bodyFailure(err, true, limit)
		}
		defer zr.Close()
		// One byte over the limit tells an exact fit from an excess.
		r = io.LimitReader(zr, limit+1)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, bodyFailure(err, gzipped, limit)
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(limit)
	}
	return body, nil
}

// contentEncoding reads the Content-Encoding header's values: ok is false
// for any coding other than one gzip (any number of identity aside).
func contentEncoding(values []string) (gzipped, ok bool) {
	for _, v := range values {
		for _, coding := range strings.Split(v, ",") {
			switch coding = strings.ToLower(strings.TrimSpace(coding)); coding {
			case "", "identity":
			case "gzip", "x-gzip":
				if gzipped {
					return false, false // gzip twice: not worth decoding
				}
				gzipped = true
			default:
				return false, false
			}
		}
	}
	return gzipped, true
}

// bodyFailure answers an error reading (or gunzipping) the body.
func bodyFailure(err error, gzipped bool, limit int64) *outcome.Error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case gzipped:
		// A corrupt stream, a bad checksum or a truncated one.
		return outcome.New(http.StatusBadRequest, "structure", "", "the body is not valid gzip (Content-Encoding: gzip)")
	}
	return outcome.New(http.StatusBadRequest, "structure", "", "could not read the request body")
}

// bodyLimit is MaxBodyBytes, 1 MiB when unset.
func (s *Server) bodyLimit() int64 {
	if s.MaxBodyBytes > 0 {
		return s.MaxBodyBytes
	}
	return 1 << 20
}

func tooLarge(limit int64) *outcome.Error {
	return outcome.New(http.StatusRequestEntityTooLarge, "too-long", "",
		fmt.Sprintf("request body exceeds the limit of %d bytes", limit))
}
