package alert

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// TestResponseTooLargeAlertsOncePerHour: a source whose one record is over
// the answer limit fails every poll; its admin hears of it once an hour,
// not once a poll, and not at all without an alert URL.
func TestResponseTooLargeAlertsOncePerHour(t *testing.T) {
	ctx := context.Background()
	st := testenv.Store(t, store.SQLite)
	start := time.Now().Truncate(time.Hour).Add(time.Minute)
	c := &clock{t: start}
	newNotifier(st, nil, "host-1", c).ResponseTooLarge(ctx, "ehr")
	if got := alerts(t, st); len(got) != 0 {
		t.Fatalf("alerts without an alert URL: %+v", got)
	}
	n := newNotifier(st, &route.Alerts{URL: "https://ops.example.com/h", SecretEnv: "S"}, "host-1", c)
	for i := range 5 {
		c.Set(start.Add(time.Duration(i) * time.Minute))
		n.ResponseTooLarge(ctx, "ehr")
	}
	got := alerts(t, st)
	if len(got) != 1 || got[0].Alert.Type != TypeResponseTooLarge || got[0].Alert.Destination != "ehr" {
		t.Fatalf("alerts after five failed polls in an hour: %+v", got)
	}
	c.Set(start.Add(time.Hour))
	n.ResponseTooLarge(ctx, "ehr")
	if got := alerts(t, st); len(got) != 2 {
		t.Fatalf("the next hour's failure: %d alerts, want 2", len(got))
	}
}
