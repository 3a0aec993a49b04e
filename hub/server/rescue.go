package server

import (
	"context"
	"time"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/webhook"
)

// rescueKinds are the job kinds the hub rescues itself: those whose River
// timeout is the delivery timeout (SWITCHBOARD_RESCUE_AFTER is checked
// against it). Kinds with a timeout of their own (alerts) are left to
// River's rescuer.
var rescueKinds = []string{delivery.Kind, webhook.Kind}

// rescueInterval is how often a worker process looks for jobs held by a
// dead process: a tenth of the rescue window, between 1 and 5 seconds, so
// a job is tried again at most that long after the window ends. Each look
// is one indexed query.
func rescueInterval(window time.Duration) time.Duration {
	return min(max(window/10, time.Second), 5*time.Second)
}

// rescue hands back, every rescueInterval, the jobs left running by a
// process that died (SIGKILL, OOM, a lost machine) once they have run for
// longer than SWITCHBOARD_RESCUE_AFTER. River's own rescuer does the same
// only on the leader and every 30 s, which after a restart of every process
// adds a leader election and up to 30 s to the wait
// (docs/decisions/0011-rescue-window.md).
func (h *Hub) rescue(ctx context.Context) {
	t := time.NewTicker(rescueInterval(h.cfg.RescueAfter))
	defer t.Stop()
	for {
		n, err := h.Store.RescueStuck(ctx, h.cfg.RescueAfter, rescueKinds...)
		switch {
		case err != nil && ctx.Err() == nil:
			h.log.Warn("rescue of stuck jobs failed", "error", err)
		case n > 0:
			h.log.Info("rescued jobs left running by a stopped process", "count", n, "running_for_over", h.cfg.RescueAfter.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
