package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/switchboard-health/switchboard/hub/certs"
)

// ServesTLS reports whether the hub terminates TLS itself.
func (c *Config) ServesTLS() bool { return c.TLSCert != "" && c.TLSKey != "" }

// checkTransport checks the settings of how clients reach the hub: the
// public URL, the TLS pair (it must load, match and be in date: `config
// check` reads the files), the redirect listener.
func (c *Config) checkTransport() []error {
	var errs []error
	if c.PublicURL != "" {
		if err := checkPublicURL(c.PublicURL); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case (c.TLSCert == "") != (c.TLSKey == ""):
		errs = append(errs, errors.New("SWITCHBOARD_TLS_CERT and SWITCHBOARD_TLS_KEY go together: set both or neither"))
	case c.ServesTLS():
		if _, err := certs.Load(c.TLSCert, c.TLSKey); err != nil {
			errs = append(errs, fmt.Errorf("SWITCHBOARD_TLS_CERT/SWITCHBOARD_TLS_KEY: %w", err))
		}
	}
	if c.RedirectAddr != "" {
		if !c.ServesTLS() {
			errs = append(errs, errors.New("SWITCHBOARD_HTTP_REDIRECT_ADDR needs SWITCHBOARD_TLS_CERT and SWITCHBOARD_TLS_KEY: it redirects to the hub's HTTPS"))
		}
		if !strings.HasPrefix(c.PublicURL, "https://") {
			errs = append(errs, errors.New("SWITCHBOARD_HTTP_REDIRECT_ADDR needs an https:// SWITCHBOARD_PUBLIC_URL: the redirect goes there, never to a Host header a client chose"))
		}
		if _, _, err := net.SplitHostPort(c.RedirectAddr); err != nil {
			errs = append(errs, fmt.Errorf("SWITCHBOARD_HTTP_REDIRECT_ADDR: want host:port, got %q", c.RedirectAddr))
		} else if c.RedirectAddr == c.Addr {
			errs = append(errs, errors.New("SWITCHBOARD_HTTP_REDIRECT_ADDR must differ from SWITCHBOARD_ADDR"))
		}
	}
	return errs
}

func checkPublicURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("SWITCHBOARD_PUBLIC_URL: want http(s)://host[:port][/prefix], got %q", v)
	}
	return nil
}

// parseProxies reads SWITCHBOARD_TRUSTED_PROXIES: addresses or CIDR
// ranges, separated by commas or spaces.
func parseProxies(v string) ([]netip.Prefix, []error) {
	var out []netip.Prefix
	var errs []error
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				errs = append(errs, fmt.Errorf("SWITCHBOARD_TRUSTED_PROXIES: %q is not an IP address or CIDR range", f))
				continue
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Bits() == 0 {
			errs = append(errs, fmt.Errorf("SWITCHBOARD_TRUSTED_PROXIES: %q trusts every client's forwarded headers; list the proxies' addresses", f))
			continue
		}
		out = append(out, p.Masked())
	}
	return out, errs
}

// parseOrigins reads SWITCHBOARD_CORS_ORIGINS: origins as browsers send
// them (scheme://host[:port], no path), separated by commas or spaces. A
// default port is dropped, since browsers leave it out of Origin.
func parseOrigins(v string) ([]string, []error) {
	var out []string
	var errs []error
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		u, err := url.Parse(f)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(f, "*") {
			errs = append(errs, fmt.Errorf("SWITCHBOARD_CORS_ORIGINS: want origins like https://app.example.com, each listed (no wildcards), got %q", f))
			continue
		}
		host := strings.ToLower(u.Host)
		if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
			host = strings.ToLower(u.Hostname())
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
		}
		out = append(out, strings.ToLower(u.Scheme)+"://"+host)
	}
	return out, errs
}
