package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// clock is a settable time source for Clients.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newClients(t *testing.T, d store.Dialect) (*auth.Clients, store.Store, *clock) {
	t.Helper()
	st := testenv.Store(t, d)
	clk := &clock{t: t0}
	return &auth.Clients{DB: st.DB(), Now: clk.Now}, st, clk
}

func TestClientsCreateVerifyRevoke(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			c, _, _ := newClients(t, d)
			id, tok, err := c.Create(ctx, "scheduling", auth.RoleApp, []string{"system/Patient.cu", "system/*.rs", "system/Patient.cu"})
			if err != nil {
				t.Fatal(err)
			}
			if len(id) != 19 || !strings.HasPrefix(id, "cl_") || !strings.HasPrefix(tok, "sb_"+id+"_") || len(tok) != len("sb_")+19+1+43 {
				t.Fatalf("id %q token shape %d bytes", id, len(tok))
			}
			p, err := c.Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if p.ID != id || p.Name != "scheduling" || p.Role != auth.RoleApp ||
				strings.Join(p.Scopes, " ") != "system/Patient.cu system/*.rs" {
				t.Fatalf("principal %+v", p)
			}
			if !p.Allows("Patient", 'c') || p.Allows("Patient", 'd') {
				t.Fatal("scopes not applied")
			}
			// A caller changing the returned principal does not change the cache.
			p.Scopes[0] = "system/*.cruds"
			if p2, _ := c.Verify(ctx, tok); p2.Scopes[0] != "system/Patient.cu" {
				t.Fatal("cached principal shared with a caller")
			}

			secret := tok[len("sb_")+len(id)+1:]
			other := "A"
			if secret[0] == 'A' {
				other = "B"
			}
			idBytes := []byte(id)
			idBytes[len(idBytes)-1] ^= 1 // still hex, another id
			for name, bad := range map[string]string{
				"wrong secret": "sb_" + id + "_" + other + secret[1:],
				"unknown id":   "sb_" + string(idBytes) + "_" + secret,
				"short secret": tok[:len(tok)-1],
				"long secret":  tok + "A",
				"no prefix":    tok[3:],
				"upper hex id": "sb_cl_" + strings.ToUpper(id[3:]) + "_" + secret,
				"padded":       tok + "=",
				"empty":        "",
				"prefix only":  "sb_",
			} {
				_, err := c.Verify(ctx, bad)
				if !errors.Is(err, auth.ErrInvalidToken) {
					t.Errorf("%s: err %v, want ErrInvalidToken", name, err)
				}
				if err != nil && strings.Contains(err.Error(), secret[:10]) {
					t.Errorf("%s: error %q contains the secret", name, err)
				}
			}

			if err := c.Revoke(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Verify(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("revoked token: err %v", err)
			}
			if err := c.Revoke(ctx, id); err != nil {
				t.Fatalf("second revoke: %v", err)
			}
			if err := c.Revoke(ctx, "cl_ffffffffffffffff"); !errors.Is(err, auth.ErrNotFound) {
				t.Fatalf("revoke unknown: %v", err)
			}
		})
	}
}

// Another process's revocation reaches a process that verified the token
// before within CacheFor, and not before: the cache is what keeps the
// database off the FHIR path.
func TestClientsCacheExpiry(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			c, st, clk := newClients(t, d)
			c.CacheFor = 30 * time.Second
			id, tok, err := c.Create(ctx, "billing", auth.RoleApp, []string{"system/Claim.c"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
			elsewhere := &auth.Clients{DB: st.DB(), Now: clk.Now}
			if err := elsewhere.Revoke(ctx, id); err != nil {
				t.Fatal(err)
			}
			clk.Add(29 * time.Second)
			if _, err := c.Verify(ctx, tok); err != nil {
				t.Fatalf("within CacheFor: %v", err)
			}
			if _, err := elsewhere.Verify(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("revoking process: err %v", err)
			}
			clk.Add(time.Second)
			if _, err := c.Verify(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("after CacheFor: err %v", err)
			}

			// With the cache off every check reads the database.
			nocache := &auth.Clients{DB: st.DB(), Now: clk.Now, CacheFor: -1}
			_, tok2, err := nocache.Create(ctx, "billing2", auth.RoleApp, []string{"system/Claim.c"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := nocache.Verify(ctx, tok2); err != nil {
				t.Fatal(err)
			}
			if _, err := st.DB().Exec(ctx, `UPDATE switchboard_client SET revoked_at = 1 WHERE name = 'billing2'`); err != nil {
				t.Fatal(err)
			}
			if _, err := nocache.Verify(ctx, tok2); !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("CacheFor < 0: err %v", err)
			}
		})
	}
}

func TestClientsListAndLastUsed(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			c, _, clk := newClients(t, d)
			adminID, adminTok, err := c.Create(ctx, "ops on-call", auth.RoleAdmin, nil)
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Second)
			audID, _, err := c.Create(ctx, "compliance", auth.RoleAuditor, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Revoke(ctx, audID); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Verify(ctx, adminTok); err != nil {
				t.Fatal(err)
			}
			// Used again within the minute: not written again.
			clk.Add(40 * time.Second)
			if _, err := c.Verify(ctx, adminTok); err != nil {
				t.Fatal(err)
			}
			list, err := c.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2 || list[0].ID != adminID || list[1].ID != audID {
				t.Fatalf("list %+v", list)
			}
			a, b := list[0], list[1]
			if a.Name != "ops on-call" || a.Role != auth.RoleAdmin || len(a.Scopes) != 0 || !a.Created.Equal(t0) ||
				!a.Revoked.IsZero() || !a.LastUsed.Equal(t0.Add(time.Second)) {
				t.Fatalf("admin %+v", a)
			}
			if b.Role != auth.RoleAuditor || !b.Revoked.Equal(t0.Add(time.Second)) || !b.LastUsed.IsZero() {
				t.Fatalf("auditor %+v", b)
			}
			// A minute after the last write, the next use is recorded.
			clk.Add(21 * time.Second)
			if _, err := c.Verify(ctx, adminTok); err != nil {
				t.Fatal(err)
			}
			list, _ = c.List(ctx)
			if !list[0].LastUsed.Equal(t0.Add(62 * time.Second)) {
				t.Fatalf("last used %v", list[0].LastUsed)
			}
		})
	}
}

func TestClientsCreateRefuses(t *testing.T) {
	c, _, _ := newClients(t, store.SQLite)
	ctx := context.Background()
	for _, tc := range []struct {
		name, client, role string
		scopes             []string
		want               string
	}{
		{"app without scopes", "a", auth.RoleApp, nil, "at least one scope"},
		{"app with a malformed scope", "a", auth.RoleApp, []string{"system/Patient.rs", "system/Patient.cdu"}, `"system/Patient.cdu"`},
		{"app with a patient scope", "a", auth.RoleApp, []string{"patient/Patient.rs"}, "patient/ scopes"},
		{"admin with scopes", "a", auth.RoleAdmin, []string{"system/*.cruds"}, "scopes are for apps"},
		{"auditor with scopes", "a", auth.RoleAuditor, []string{"system/*.rs"}, "scopes are for apps"},
		{"unknown role", "a", "root", nil, "role must be"},
		{"no name", " ", auth.RoleAdmin, nil, "name"},
	} {
		_, tok, err := c.Create(ctx, tc.client, tc.role, tc.scopes)
		if err == nil || !strings.Contains(err.Error(), tc.want) || tok != "" {
			t.Errorf("%s: err %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	if list, _ := c.List(ctx); len(list) != 0 {
		t.Fatalf("refused clients stored: %+v", list)
	}
}

// FuzzVerifyShape feeds arbitrary strings to Verify: it must never panic
// nor accept anything but the one issued token.
func FuzzVerifyShape(f *testing.F) {
	st := testenv.Store(f, store.SQLite)
	c := &auth.Clients{DB: st.DB()}
	_, tok, err := c.Create(context.Background(), "fuzz", auth.RoleAdmin, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(tok[:len(tok)-1] + "_")
	f.Add("sb_cl_0000000000000000_")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := c.Verify(context.Background(), s); err == nil && s != tok {
			t.Fatalf("accepted %q", s)
		}
	})
}

// The FHIR path verifies the same tokens from many requests at once.
func TestClientsConcurrentVerify(t *testing.T) {
	ctx := context.Background()
	c, _, clk := newClients(t, store.SQLite)
	id, tok, err := c.Create(ctx, "app", auth.RoleApp, []string{"system/*.rs"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			if i%50 == 0 {
				clk.Add(31 * time.Second) // expire the cache under load
			}
			p, err := c.Verify(ctx, tok)
			if err == nil && p.ID != id {
				err = errors.New("wrong principal")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
