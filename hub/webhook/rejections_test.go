package webhook

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/transferlog"
)

type rowsAppender struct {
	mu   sync.Mutex
	fail bool
	rows []transferlog.Row
}

func (a *rowsAppender) Append(_ context.Context, r transferlog.Row) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return errors.New("database unavailable")
	}
	a.rows = append(a.rows, r)
	return nil
}

// TestRejectionsAggregate: many refusals become one row per source and
// reason with their count; a flush whose write fails keeps the counts for
// the next one; stopping Run writes what was counted.
func TestRejectionsAggregate(t *testing.T) {
	log := &rowsAppender{fail: true}
	metric := map[string]int{}
	r := &Rejections{Log: log, Count: func(s, reason string) { metric[s+"/"+reason]++ }}
	for range 1000 {
		r.Add("payments", "missing_signature")
	}
	r.Add("", ReasonUnknownSource)
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("a failed write was not reported")
	}
	log.fail = false
	r.Add("payments", "missing_signature")
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(log.rows) != 2 {
		t.Fatalf("%d rows, want 2: %+v", len(log.rows), log.rows)
	}
	unknown, payments := log.rows[0], log.rows[1]
	if unknown.Source != "" || unknown.HTTPStatus != 404 || unknown.Detail["reason"] != ReasonUnknownSource || unknown.Detail["count"] != 1 {
		t.Errorf("unknown source row: %+v", unknown)
	}
	if payments.Source != "payments" || payments.HTTPStatus != 401 || payments.Event != transferlog.EventWebhookRejected ||
		payments.Detail["reason"] != "missing_signature" || payments.Detail["count"] != 1001 {
		t.Errorf("payments row: %+v", payments)
	}
	if metric["payments/missing_signature"] != 1001 || metric["/unknown_source"] != 1 {
		t.Errorf("metric: %v", metric)
	}
	if err := r.Flush(context.Background()); err != nil || len(log.rows) != 2 {
		t.Fatalf("an empty flush wrote rows: %d, %v", len(log.rows), err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.Interval = time.Hour
	go func() { defer close(done); r.Run(ctx) }()
	r.Add("payments", ReasonOversize)
	cancel()
	<-done
	if len(log.rows) != 3 || log.rows[2].Detail["reason"] != ReasonOversize || log.rows[2].HTTPStatus != 413 {
		t.Fatalf("after Run stopped: %+v", log.rows)
	}
}
