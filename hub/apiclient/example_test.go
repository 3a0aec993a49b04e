package apiclient_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/switchboard-health/switchboard/hub/apiclient"
)

// A client needs the hub's address and an admin token; every page of
// failed syncs names the cursor of the next.
func ExampleClient_Failures() {
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sb_cl_0123456789abcdef_secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"items":[{"id":"tr_1:0:hubspot","destination":"hubspot","resource_type":"Patient",
			"state":"failed","error_class":"validation","attempts":3,"payload":"kept"}],"next":""}`)
	}))
	defer hub.Close()

	c := &apiclient.Client{BaseURL: hub.URL, Token: "sb_cl_0123456789abcdef_secret"}
	ctx := context.Background()
	cursor := ""
	for {
		page, err := c.Failures(ctx, apiclient.FailureFilter{Destination: "hubspot"}, cursor, 100)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, f := range page.Items {
			fmt.Println(f.ID, f.ErrorClass, f.Attempts, f.Payload)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}

	c.Token = ""
	_, err := c.Health(ctx)
	fmt.Println(err)
	// Output:
	// tr_1:0:hubspot validation 3 kept
	// 401 unauthorized (pass --token, or set SWITCHBOARD_TOKEN or the role's SWITCHBOARD_ADMIN_TOKEN / SWITCHBOARD_AUDITOR_TOKEN: `source var/dev.env` on a make-run hub)
}
