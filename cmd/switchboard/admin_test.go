package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// `admin reconcile --wait` and `admin drift --wait` print the counts of the
// run they waited for. Its rows are staged as the job completes and chained
// a moment later: the counts are printed whether the chainer has moved them
// yet or not (the README walkthrough's reconcile printed none when it read
// the chain alone), each row once, and rows from before the run not at all.
func TestPrintRowsStagedAndChained(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) { testPrintRows(t, testenv.Store(t, d)) })
	}
}

func testPrintRows(t *testing.T, st store.Store) {
	ctx := context.Background()
	mac, err := seal.NewMAC(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	log := &transferlog.Log{Store: st, MAC: mac, Logger: logging.Discard()}
	poll := func(at time.Time, typ string, seen int) transferlog.Row {
		return transferlog.Row{At: at, Event: transferlog.EventPoll, Source: "ehr", ResourceType: typ, Outcome: "completed",
			Detail: map[string]any{"pages": 1, "seen": seen, "routed": 0}}
	}
	started := time.Now()
	if err := transferlog.Stage(ctx, st.DB(), poll(started.Add(-time.Minute), "Patient", 9)); err != nil { // an earlier run
		t.Fatal(err)
	}
	if err := transferlog.Stage(ctx, st.DB(), poll(started.Add(time.Millisecond), "Patient", 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Chain(ctx); err != nil { // the chainer took these two
		t.Fatal(err)
	}
	if err := transferlog.Stage(ctx, st.DB(), poll(started.Add(2*time.Millisecond), "Appointment", 1)); err != nil { // not yet
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := logRows{event: transferlog.EventPoll, source: "ehr", label: "resource_type", keys: []string{"pages", "seen", "routed"}}
	if err := printRows(ctx, st, r, started, &out); err != nil {
		t.Fatal(err)
	}
	want := "Patient      completed pages=1 seen=2 routed=0\nAppointment  completed pages=1 seen=1 routed=0\n"
	if got := out.String(); got != want {
		t.Fatalf("printed:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(out.String(), "seen=9") {
		t.Fatal("printed a row of an earlier run")
	}
}
