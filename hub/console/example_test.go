package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/switchboard-health/switchboard/hub/console"
)

// The hub mounts the console under /console/ next to its API. The hub's own
// auth routes serve POST and DELETE /console/session (the River UI cookie);
// being more specific, those patterns win over the console's subtree.
func ExampleHandler() {
	mux := http.NewServeMux()
	mux.Handle(console.Prefix+"/", console.Handler())
	mux.HandleFunc("POST /console/session", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/console/")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	fmt.Println(resp.Header.Get("Content-Security-Policy"))

	resp, err = http.Post(srv.URL+"/console/session", "", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// 200 text/html; charset=utf-8
	// default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'
	// 204
}
