// Package certs holds the TLS certificate the hub serves when it
// terminates TLS itself (SWITCHBOARD_TLS_CERT and SWITCHBOARD_TLS_KEY): a
// PEM certificate chain and its private key, checked when loaded, and
// reloaded without a restart when the files change (a renewal by
// cert-manager or certbot, a rotated Kubernetes Secret) or on SIGHUP.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Load reads a certificate chain and its key and checks that they belong
// together, that the first certificate parses and that it is within its
// validity period. The error names the files, never their contents.
func Load(certPath, keyPath string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certPath, keyPath, err)
	}
	if cert.Leaf == nil { // set by LoadX509KeyPair since Go 1.23; parse if not
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse TLS certificate %s: %w", certPath, err)
		}
	}
	now := time.Now()
	if now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("TLS certificate %s expired on %s", certPath, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cert.Leaf.NotBefore) {
		return nil, fmt.Errorf("TLS certificate %s is not valid before %s", certPath, cert.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// DefaultEvery is how often, at most, a handshake looks at the files.
const DefaultEvery = time.Second

// Reloader serves the current certificate to TLS handshakes
// (tls.Config.GetCertificate). A handshake at least Every after the last
// look stats both files and, if either changed, loads the pair again; a
// pair that does not load (a key not yet written beside its new
// certificate, say) is logged once and the previous certificate kept, so a
// renewal never takes the hub off the air.
type Reloader struct {
	certPath, keyPath string
	log               *slog.Logger
	// Every is the least time between looks at the files (DefaultEvery
	// when zero).
	Every time.Duration

	mu      sync.Mutex
	cur     *tls.Certificate
	loaded  stamp // the files the current certificate came from
	failed  stamp // the files last found unusable
	lastErr string
	checked time.Time
}

// stamp identifies a version of the two files.
type stamp struct {
	certSize, keySize int64
	certMod, keyMod   time.Time
}

func stampOf(certPath, keyPath string) (stamp, error) {
	c, err := os.Stat(certPath)
	if err != nil {
		return stamp{}, err
	}
	k, err := os.Stat(keyPath)
	if err != nil {
		return stamp{}, err
	}
	return stamp{certSize: c.Size(), keySize: k.Size(), certMod: c.ModTime(), keyMod: k.ModTime()}, nil
}

// New loads the pair once; an error here stops the hub from starting.
func New(certPath, keyPath string, log *slog.Logger) (*Reloader, error) {
	r := &Reloader{certPath: certPath, keyPath: keyPath, log: log}
	st, err := stampOf(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	cert, err := Load(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	r.cur, r.loaded, r.checked = cert, st, time.Now()
	return r, nil
}

// Config is the server's TLS configuration: TLS 1.2 or later, Go's default
// cipher suites (AEAD only with forward secrecy for TLS 1.2), the current
// certificate from the Reloader.
func (r *Reloader) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}

// GetCertificate implements tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	every := r.Every
	if every <= 0 {
		every = DefaultEvery
	}
	if time.Since(r.checked) >= every {
		r.checked = time.Now()
		r.reloadLocked(false)
	}
	return r.cur, nil
}

// Reload loads the files again now, changed or not (SIGHUP). On error the
// current certificate stays.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked = time.Now()
	return r.reloadLocked(true)
}

// Current is the certificate being served.
func (r *Reloader) Current() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

func (r *Reloader) reloadLocked(force bool) error {
	st, err := stampOf(r.certPath, r.keyPath)
	if err == nil && !force && (st == r.loaded || st == r.failed) {
		return nil
	}
	var cert *tls.Certificate
	if err == nil {
		cert, err = Load(r.certPath, r.keyPath)
	}
	if err != nil {
		// Logged once per version of the files (or per SIGHUP), not once
		// per handshake.
		if msg := err.Error(); msg != r.lastErr || force {
			r.log.Warn("TLS certificate files changed but do not load: still serving the previous certificate", "error", err)
			r.lastErr = msg
		}
		r.failed = st
		return err
	}
	r.cur, r.loaded, r.failed, r.lastErr = cert, st, stamp{}, ""
	r.log.Info("TLS certificate loaded", "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}
