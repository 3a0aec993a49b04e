package auth_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/store"
)

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	clients, st, _ := newClients(t, store.SQLite)
	id, tok, err := clients.Create(ctx, "ops", auth.RoleAdmin, nil)
	if err != nil {
		t.Fatal(err)
	}
	is := newIssuer(t, "k1")
	jwtTok := is.sign(t, "k1", is.claims())
	withOIDC := &auth.Authenticator{Clients: clients, OIDC: is.oidc(t)}
	clientsOnly := &auth.Authenticator{Clients: clients}

	for _, tc := range []struct {
		name    string
		a       *auth.Authenticator
		headers []string
		wantID  string
		wantErr error
	}{
		{"client token", clientsOnly, []string{"Bearer " + tok}, id, nil},
		{"scheme in any case", clientsOnly, []string{"bEARER  " + tok}, id, nil},
		{"JWT", withOIDC, []string{"Bearer " + jwtTok}, "oidc:svc-scheduling", nil},
		{"no header", withOIDC, nil, "", auth.ErrNoToken},
		{"JWT without OIDC", clientsOnly, []string{"Bearer " + jwtTok}, "", auth.ErrInvalidToken},
		{"basic auth", withOIDC, []string{"Basic " + tok}, "", auth.ErrInvalidToken},
		{"scheme only", withOIDC, []string{"Bearer"}, "", auth.ErrInvalidToken},
		{"empty token", withOIDC, []string{"Bearer   "}, "", auth.ErrInvalidToken},
		{"empty header", withOIDC, []string{""}, "", auth.ErrInvalidToken},
		{"token alone", withOIDC, []string{tok}, "", auth.ErrInvalidToken},
		{"two headers", withOIDC, []string{"Bearer " + tok, "Bearer " + tok}, "", auth.ErrInvalidToken},
		{"opaque token", withOIDC, []string{"Bearer 2YotnFZFEjr1zCsicMWpAA"}, "", auth.ErrInvalidToken},
		{"client token, tampered", withOIDC, []string{"Bearer " + tok[:len(tok)-2] + "xx"}, "", auth.ErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/admin/health", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			p, err := tc.a.Authenticate(ctx, r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || p != nil {
					t.Fatalf("%+v, %v; want %v", p, err, tc.wantErr)
				}
				for _, secret := range []string{tok[len(tok)-20:], jwtTok[len(jwtTok)-20:]} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("error %q contains the token", err)
					}
				}
				return
			}
			if err != nil || p.ID != tc.wantID {
				t.Fatalf("%+v, %v; want %s", p, err, tc.wantID)
			}
		})
	}

	// The database failing is not the caller's fault: not a 401.
	st.Close()
	fresh := &auth.Authenticator{Clients: &auth.Clients{DB: st.DB()}}
	if _, err := fresh.AuthenticateToken(ctx, tok); !errors.Is(err, auth.ErrUnavailable) || errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("database closed: %v", err)
	}
}

func TestPrincipalContext(t *testing.T) {
	ctx := context.Background()
	if auth.FromContext(ctx) != nil {
		t.Fatal("principal from an empty context")
	}
	p := &auth.Principal{ID: "cl_0123456789abcdef", Role: auth.RoleAuditor}
	if got := auth.FromContext(auth.WithPrincipal(ctx, p)); got != p {
		t.Fatalf("got %+v", got)
	}
}
