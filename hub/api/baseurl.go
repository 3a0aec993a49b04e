package api

import (
	"net/http"
	"net/netip"
	"strings"
)

// Absolute URLs the hub writes (a search Bundle's self and next links) and
// the URL a vendor signed (HubSpot) need the scheme and host clients reach
// the hub at. The request's Host header and X-Forwarded-* headers are the
// caller's to choose: believed blindly, `Host: attacker.example` with
// `X-Forwarded-Proto: https` would send a client following a next link,
// bearer token and all, to the attacker. So, in order:
//
//  1. SWITCHBOARD_PUBLIC_URL, when the operator set it;
//  2. from a proxy the operator trusts (SWITCHBOARD_TRUSTED_PROXIES, by the
//     connecting address, never by a header), its X-Forwarded-Proto and
//     X-Forwarded-Host, else the scheme of the connection and the Host it
//     forwarded;
//  3. otherwise nothing: links are relative (/fhir/R4/...), which a client
//     resolves against the URL it called (RFC 3986 §5), whatever proxies
//     stand between. FHIR's Bundle.link.url is a uri, which may be
//     relative; clients that insist on absolute links (HAPI's, the SMART
//     Python client) need SWITCHBOARD_PUBLIC_URL.
//
// The configured listen address is no answer: behind a proxy, or bound to
// 0.0.0.0 in a container, it is not where clients are.

// origin is the scheme and host (and path prefix, from PUBLIC_URL) clients
// reach the hub at, or "" when the hub cannot know it.
func (s *Server) origin(r *http.Request) string {
	if s.PublicURL != "" {
		return s.PublicURL
	}
	if !s.fromTrustedProxy(r) {
		return ""
	}
	scheme := connScheme(r)
	if p := strings.ToLower(lastValue(r.Header.Values("X-Forwarded-Proto"))); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if h := lastValue(r.Header.Values("X-Forwarded-Host")); validHost(h) {
		host = h
	}
	if !validHost(host) {
		return ""
	}
	return scheme + "://" + host
}

// calledURL is the URL as the caller called it, for signatures over it
// (HubSpot v3). Without a configured or trusted origin it is built from
// the connection's scheme and the Host header: a forged Host then only
// makes the signature fail, since the vendor signed the URL it called.
func (s *Server) calledURL(r *http.Request) string {
	base := s.origin(r)
	if base == "" {
		base = connScheme(r) + "://" + r.Host
	}
	return base + r.URL.RequestURI()
}

// secureScheme reports whether clients reach the hub over HTTPS (for the
// session cookie's Secure flag).
func (s *Server) secureScheme(r *http.Request) bool {
	if o := s.origin(r); o != "" {
		return strings.HasPrefix(o, "https://")
	}
	return r.TLS != nil
}

func connScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// fromTrustedProxy reports whether the connection comes from a configured
// proxy.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	if len(s.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// lastValue is the last of a header's comma-separated values: the one the
// proxy next to the hub wrote (a client can put anything before it).
func lastValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	v := vs[len(vs)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// validHost accepts a host name or IP address with an optional port, and
// nothing else: no path, user info, spaces or quotes can ride into a link.
func validHost(h string) bool {
	if h == "" || len(h) > 261 {
		return false
	}
	for i := 0; i < len(h); i++ {
		switch b := h[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '.', b == ':', b == '[', b == ']':
		default:
			return false
		}
	}
	return true
}
