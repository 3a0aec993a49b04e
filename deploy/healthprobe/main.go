// Command healthprobe is the container images' health check: the final
// images are distroless (no shell, no curl), so Compose's healthcheck runs
// this instead. It GETs one URL and exits 0 on a 2xx answer, 1 otherwise.
//
//	healthprobe http://127.0.0.1:8080/readyz
//	healthprobe https://127.0.0.1:8080/readyz   (the hub serving TLS itself)
//
// An https URL on a loopback address is probed without checking the
// certificate, as Kubernetes' HTTPS probes do: the connection never leaves
// the container, the probe sends nothing secret and reads only the status,
// and the certificate names the public host, not 127.0.0.1. Any other
// https URL is verified as usual.
//
// Kubernetes does not need it: its probes are httpGet probes.
package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: healthprobe URL")
		os.Exit(2)
	}
	if err := probe(os.Args[1], 3*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "healthprobe:", err)
		os.Exit(1)
	}
}

func probe(rawURL string, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("parse %s: %w", rawURL, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if skipVerify(u) {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback only, see the package comment
	}
	c := &http.Client{Timeout: timeout, Transport: tr}
	resp, err := c.Get(rawURL)
	if err != nil {
		return fmt.Errorf("get %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("get %s: status %d", rawURL, resp.StatusCode)
	}
	return nil
}

// skipVerify reports whether u is an https URL on a loopback address.
func skipVerify(u *url.URL) bool {
	if u.Scheme != "https" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback() || u.Hostname() == "localhost"
}
