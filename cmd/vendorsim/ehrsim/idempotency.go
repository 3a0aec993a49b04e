package ehrsim

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sync"
	"time"
)

// fingerprint identifies the request a key was first used for: reusing a key
// for anything else is the client's bug, answered 422.
func fingerprint(r *http.Request, body []byte) [32]byte {
	h := sha256.New()
	for _, s := range []string{r.Method, r.URL.Path, r.Header.Get("If-None-Exist"), r.Header.Get("If-Match")} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	var fp [32]byte
	h.Sum(fp[:0])
	return fp
}

// keyEntry is one Idempotency-Key. done closes when the first request with the
// key has finished; resp is then its stored answer, or nil when the first
// request gave up without one (the key is then free again).
type keyEntry struct {
	fp   [32]byte
	done chan struct{}
	resp *answer
}

// keyTable remembers keys for the life of the process; a real vendor expires
// them (Stripe after 24 hours), which a sandbox that restarts per test need not.
type keyTable struct {
	mu sync.Mutex
	m  map[string]*keyEntry
}

// claimOutcome says what a request holding a key must do.
type claimOutcome int

const (
	claimOwner    claimOutcome = iota // first with this key: do the work, then finish or abandon
	claimReplay                       // answer the stored response
	claimMismatch                     // the key belongs to a different request: 422
	claimBusy                         // the first request is still running and we stopped waiting: 409
)

// claim registers key for a request with fingerprint fp. A request arriving
// while the first with the same key is in flight waits up to wait (and while
// ctx lives) and then replays the first one's answer: exactly one effect.
func (t *keyTable) claim(ctx context.Context, key string, fp [32]byte, wait time.Duration) (*keyEntry, claimOutcome) {
	var timeout <-chan time.Time
	for {
		t.mu.Lock()
		e := t.m[key]
		if e == nil {
			e = &keyEntry{fp: fp, done: make(chan struct{})}
			t.m[key] = e
			t.mu.Unlock()
			return e, claimOwner
		}
		t.mu.Unlock()
		if e.fp != fp {
			return nil, claimMismatch
		}
		if timeout == nil {
			tm := time.NewTimer(wait)
			defer tm.Stop()
			timeout = tm.C
		}
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, claimBusy
		case <-timeout:
			return nil, claimBusy
		}
		if e.resp != nil {
			return e, claimReplay
		}
		// The first request abandoned the key; try to claim it afresh.
	}
}

// finish stores the owner's answer and releases any waiters.
func (t *keyTable) finish(e *keyEntry, a *answer) {
	e.resp = a
	close(e.done)
}

// abandon frees the key without an answer (the owner failed unexpectedly), so
// a retry may proceed.
func (t *keyTable) abandon(key string, e *keyEntry) {
	t.mu.Lock()
	if t.m[key] == e {
		delete(t.m, key)
	}
	t.mu.Unlock()
	close(e.done)
}

func (t *keyTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
