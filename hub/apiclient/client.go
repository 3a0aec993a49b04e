// Package apiclient is a small typed client for a running hub's admin and
// audit APIs: the calls `switchboard admin` and `switchboard audit` make,
// usable from other tools too.
//
// It holds no PHI and sends none: the APIs it calls answer with routing
// facts, counts, hashes and digests, and the one body it uploads (a
// document for Digest) is hashed by the hub and dropped.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxJSON bounds a JSON answer the client decodes: far above any page the
// APIs return, low enough that a misbehaving server cannot exhaust memory.
const maxJSON = 64 << 20

// Client calls one hub. The zero HTTP uses http.DefaultClient; requests
// are bounded by their context, not by a client timeout, so that a long
// export is not cut off.
type Client struct {
	// BaseURL is the hub's address, such as http://127.0.0.1:8080.
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>" when set: an API
	// client token (sb_<id>_<secret>) or a JWT from the hub's OIDC issuer.
	Token string
	// TokenFrom says where Token came from ("--token", SWITCHBOARD_TOKEN,
	// SWITCHBOARD_AUDITOR_TOKEN, ...); a 401 or 403 names it, since the
	// usual cause is the token of another role.
	TokenFrom string
	HTTP      *http.Client
}

// Principal is the caller as the hub sees it (GET /auth/whoami).
type Principal struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Role   string   `json:"role"`
	Scopes []string `json:"scopes"`
}

// Whoami returns the caller the token stands for.
func (c *Client) Whoami(ctx context.Context) (*Principal, error) {
	var p Principal
	if err := c.getJSON(ctx, "/auth/whoami", nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// do sends one request and returns the response when its status is 2xx;
// any other status is read into an *APIError and the body closed.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.httpClient().Do(req)
	if err != nil {
		// The URL error names the address, never the token (a header).
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		defer res.Body.Close()
		e := readError(res)
		e.TokenFrom = c.TokenFrom
		return nil, e
	}
	return res, nil
}

// call sends a request and decodes a JSON answer into out (when non-nil).
func (c *Client) call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	var ct string
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode the request: %w", method, path, err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	res, err := c.do(ctx, method, path, q, body, ct)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxJSON))
		return nil
	}
	return decode(res, method+" "+path, out)
}

// decode reads a JSON answer into out.
func decode(res *http.Response, what string, out any) error {
	if err := json.NewDecoder(io.LimitReader(res.Body, maxJSON)).Decode(out); err != nil {
		return fmt.Errorf("%s: decode the answer: %w", what, err)
	}
	return nil
}

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	return c.call(ctx, http.MethodGet, path, q, nil, out)
}

// segment escapes one path segment (a failure id or destination name).
func segment(s string) string { return url.PathEscape(s) }

// query collects the non-empty parameters: the hub rejects parameters it
// does not know and reads an empty one as absent, so leaving them out keeps
// requests minimal and their audit_read rows accurate.
type query url.Values

func (q query) set(name, v string) {
	if v != "" {
		url.Values(q).Set(name, v)
	}
}
