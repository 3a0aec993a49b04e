// Package console serves the Switchboard admin and audit console: a static,
// dependency-free web page (vanilla JavaScript, no build step) that calls the
// hub's JSON APIs (/auth/whoami, /admin/*, /audit/*) with the signed-in
// token as a bearer header. The page holds no data of its own and the hub
// stores no PHI, so the console never shows any: failures, health and audit
// rows carry ids, classes, digests and counts only.
//
// The files are embedded in the binary; nothing is fetched from elsewhere
// (no CDNs, no web fonts), which is what lets the Content-Security-Policy be
// default-src 'self'.
package console

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the console is served under; its page is Prefix + "/".
const Prefix = "/console"

//go:embed static
var static embed.FS

// contentSecurityPolicy allows the page's own files and API calls only.
// frame-ancestors 'none' stops click-jacking of the replay and discard
// buttons; base-uri and form-action close the two holes default-src leaves.
const contentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Handler returns the console handler. Mount it at Prefix + "/"; it answers
// GET and HEAD for Prefix (redirected to Prefix + "/"), Prefix + "/" (the
// page) and Prefix + "/<asset>" (the embedded scripts and styles), 404 for
// anything else under the prefix. It does not serve Prefix + "/session":
// the hub's auth routes own that path.
func Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic("console: embedded static folder missing: " + err.Error()) // a build error, not a runtime one
	}
	return &handler{files: files}
}

type handler struct {
	files fs.FS
}

// contentTypes is fixed rather than read from mime.TypeByExtension, which
// the host's /etc/mime.types can change; with nosniff a wrong type for a
// module script would stop the page.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// loadedAt stands in for the files' modification time: embedded files have
// none, and a stable value per process lets If-Modified-Since work for
// assets while a new deployment is picked up at once.
var loadedAt = time.Now()

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == Prefix {
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = "index.html"
	}
	// Only flat file names: no folders, no dot files.
	if strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	body, err := fs.ReadFile(h.files, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctype, ok := contentTypes[path.Ext(name)]
	if !ok {
		ctype = "application/octet-stream"
	}
	hdr.Set("Content-Type", ctype)
	if name == "index.html" {
		// The page decides which scripts run with a bearer token in
		// sessionStorage: never serve a stale one from a cache.
		hdr.Set("Cache-Control", "no-store")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, loadedAt, bytes.NewReader(body))
}
