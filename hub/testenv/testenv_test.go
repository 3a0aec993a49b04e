package testenv

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestPostgresGivesFreshDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := Postgres(t), Postgres(t)
	if a == b {
		t.Fatal("two tests share a database")
	}
	for _, u := range []string{a, b} {
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("want an empty database: %d tables, %v", n, err)
		}
		c.Close(ctx)
	}
	if PostgresDataDir(t) == "" {
		t.Fatal("no data directory")
	}
}

func TestStripeMockValidatesLikeStripe(t *testing.T) {
	base := StripeMock(t)
	post := func(form url.Values) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/customers", strings.NewReader(form.Encode()))
		req.Header.Set("Authorization", "Bearer sk_test_123")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post(url.Values{"name": {"x"}}); s != 200 {
		t.Fatalf("valid customer: %d", s)
	}
	if s := post(url.Values{"not_a_param": {"x"}}); s != 400 {
		t.Fatalf("unknown parameter: %d, want 400", s)
	}
}
