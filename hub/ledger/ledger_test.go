package ledger_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/ledger"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func openStore(t *testing.T, d store.Dialect) store.Store { return testenv.Store(t, d) }

var dialects = []store.Dialect{store.SQLite, store.Postgres}

func newLedger(t *testing.T, st store.Store) *ledger.Ledger {
	t.Helper()
	mac, err := seal.NewMAC([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return &ledger.Ledger{DB: st.DB(), MAC: mac, Now: func() time.Time { return time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC) }}
}

const sys = connectors.IdentifierSystemPrefix

func appt(start, end, extra string) []byte {
	return []byte(`{"resourceType":"Appointment","status":"booked","start":"` + start + `","end":"` + end + `"` + extra + `}`)
}

func TestKeys(t *testing.T) {
	cases := []struct {
		name, typ, id string
		resource      string
		want          []string
	}{
		{"vendor id only", "Appointment", "42", `{"resourceType":"Appointment"}`, []string{"Appointment/42"}},
		{"hub identifiers follow the vendor id", "Appointment", "42",
			`{"resourceType":"Appointment","identifier":[{"system":"` + sys + `booking","value":"b-1"},{"system":"urn:other","value":"x"},{"system":"` + sys + `ehr","value":"e-9"}]}`,
			[]string{"Appointment/42", "Appointment|" + sys + "booking|b-1", "Appointment|" + sys + "ehr|e-9"}},
		{"identifier without value skipped", "Patient", "p", `{"identifier":[{"system":"` + sys + `x","value":""},{"value":"v"}]}`, []string{"Patient/p"}},
		{"no vendor id", "Appointment", "", `{"identifier":[{"system":"` + sys + `booking","value":"b-1"}]}`, []string{"Appointment|" + sys + "booking|b-1"}},
		{"nothing", "Appointment", "", `{}`, nil},
		{"invalid JSON keeps vendor id", "Patient", "p", `not json`, []string{"Patient/p"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ledger.Keys(tc.typ, tc.id, []byte(tc.resource))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Keys = %q, want %q", got, tc.want)
			}
		})
	}
	if got := ledger.MatchKey("Appointment", "s|v"); got != "Appointment|s|v" {
		t.Fatalf("MatchKey = %q", got)
	}
}

func TestDedup(t *testing.T) {
	got := ledger.Dedup([]string{"a", "", "b", "a", "Appointment|", "b", "c"})
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Dedup = %q, want %q", got, want)
	}
}

func TestJudge(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	base := appt("2026-03-01T09:00:00Z", "2026-03-01T09:30:00Z", "")
	type rec struct {
		resource []byte
		at       time.Time
	}
	cases := []struct {
		name     string
		recorded []rec // recorded in order before judging
		judged   []byte
		at       time.Time
		want     ledger.Verdict
	}{
		{"unknown record", nil, base, t0, ledger.Changed},
		{"same fingerprint", []rec{{base, t0}}, base, t0.Add(time.Minute), ledger.Unchanged},
		{"same fingerprint even when older", []rec{{base, t0}}, base, t0.Add(-time.Hour), ledger.Unchanged},
		{"note differs only", []rec{{base, t0}}, appt("2026-03-01T09:00:00Z", "2026-03-01T09:30:00Z", `,"comment":"bring forms"`), t0.Add(time.Minute), ledger.Unchanged},
		{"participant differs only", []rec{{base, t0}},
			appt("2026-03-01T09:00:00Z", "2026-03-01T09:30:00Z", `,"participant":[{"actor":{"reference":"Practitioner/2"},"status":"accepted"}]`), t0.Add(time.Minute), ledger.Unchanged},
		{"same instant other time zone", []rec{{base, t0}}, appt("2026-03-01T04:00:00-05:00", "2026-03-01T10:30:00+01:00", ""), t0.Add(time.Minute), ledger.Unchanged},
		{"different start, later", []rec{{base, t0}}, appt("2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z", ""), t0.Add(time.Minute), ledger.Changed},
		{"different start, same time", []rec{{base, t0}}, appt("2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z", ""), t0, ledger.Changed},
		{"different start, older", []rec{{base, t0}}, appt("2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z", ""), t0.Add(-time.Microsecond), ledger.Stale},
		{"different start, no time", []rec{{base, t0}}, appt("2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z", ""), time.Time{}, ledger.Changed},
		{"back to an earlier state, later", []rec{{base, t0}, {appt("2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z", ""), t0.Add(time.Minute)}}, base, t0.Add(2 * time.Minute), ledger.Changed},
		{"earlier state replayed late", []rec{{base, t0}, {appt("2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z", ""), t0.Add(time.Minute)}}, base, t0, ledger.Stale},
	}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			ctx := context.Background()
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					l := newLedger(t, st)
					// A record id per case keeps cases apart in one database.
					keys := []string{"Appointment/" + string(rune('a'+i))}
					for _, r := range tc.recorded {
						if err := l.Record(ctx, "ehr", keys, r.resource, r.at); err != nil {
							t.Fatal(err)
						}
					}
					got, err := l.Judge(ctx, "ehr", keys, tc.judged, tc.at)
					if err != nil {
						t.Fatal(err)
					}
					if got != tc.want {
						t.Fatalf("Judge = %q, want %q", got, tc.want)
					}
					// Another vendor's copy of the same id is not known.
					if got, err := l.Judge(ctx, "payments", keys, tc.judged, tc.at); err != nil || got != ledger.Changed {
						t.Fatalf("other vendor: %q %v", got, err)
					}
				})
			}
			t.Run("no keys", func(t *testing.T) {
				l := newLedger(t, st)
				if v, err := l.Judge(ctx, "ehr", nil, []byte(`not json`), t0); err != nil || v != ledger.Changed {
					t.Fatalf("Judge(no keys) = %q %v", v, err)
				}
				if err := l.Record(ctx, "ehr", nil, base, t0); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("invalid resource", func(t *testing.T) {
				l := newLedger(t, st)
				if _, err := l.Judge(ctx, "ehr", []string{"Patient/x"}, []byte(`[1]`), t0); err == nil {
					t.Fatal("Judge of a non-object: no error")
				}
				if err := l.Record(ctx, "ehr", []string{"Patient/x"}, []byte(`nope`), t0); err == nil {
					t.Fatal("Record of a non-object: no error")
				}
			})
			t.Run("judged by an identifier key recorded under it", func(t *testing.T) {
				l := newLedger(t, st)
				res := appt("2026-04-01T09:00:00Z", "2026-04-01T09:30:00Z", `,"identifier":[{"system":"`+sys+`booking","value":"bk-77"}]`)
				if err := l.Record(ctx, "ehr", ledger.Keys("Appointment", "v-77", res), res, t0); err != nil {
					t.Fatal(err)
				}
				// A change addressed by identifier only (no vendor id) finds it.
				keys := ledger.Keys("Appointment", "", res)
				if v, err := l.Judge(ctx, "ehr", keys, res, t0.Add(time.Second)); err != nil || v != ledger.Unchanged {
					t.Fatalf("by identifier: %q %v", v, err)
				}
			})
			// The echo of a write the hub has sent but whose answer (the
			// vendor's id for the record) it has not recorded yet: the
			// vendor id is unknown, the identifier the write was recorded
			// under beforehand judges it. The vendor id, once known, is
			// judged first.
			t.Run("an unknown vendor id falls back to a known identifier", func(t *testing.T) {
				l := newLedger(t, st)
				sent := appt("2026-04-02T11:00:00Z", "2026-04-02T11:30:00Z", "")
				match := ledger.MatchKey("Appointment", sys+"booking|bk-old")
				if err := l.Record(ctx, "scheduling", []string{match}, sent, t0); err != nil {
					t.Fatal(err)
				}
				keys := []string{"Appointment/bk-new", match}
				if v, err := l.Judge(ctx, "scheduling", keys, sent, t0.Add(time.Second)); err != nil || v != ledger.Unchanged {
					t.Fatalf("echo before the answer: %q %v, want unchanged", v, err)
				}
				other := appt("2026-04-02T12:00:00Z", "2026-04-02T12:30:00Z", "")
				if v, err := l.Judge(ctx, "scheduling", keys, other, t0.Add(-time.Second)); err != nil || v != ledger.Stale {
					t.Fatalf("an older change to the record: %q %v, want stale", v, err)
				}
				if err := l.Record(ctx, "scheduling", []string{"Appointment/bk-new"}, other, t0.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
				if v, err := l.Judge(ctx, "scheduling", keys, sent, t0.Add(2*time.Minute)); err != nil || v != ledger.Changed {
					t.Fatalf("the vendor id known: %q %v, want changed (judged by the vendor id first)", v, err)
				}
			})
		})
	}
}

func TestNewer(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	res := appt("2026-03-01T09:00:00Z", "2026-03-01T09:30:00Z", `,"identifier":[{"system":"`+sys+`booking","value":"bk-1"}]`)
	idKey := "Appointment|" + sys + "booking|bk-1"
	cases := []struct {
		name   string
		vendor string
		keys   []string
		at     time.Time
		want   bool
	}{
		{"known later than the change", "ehr", []string{"Appointment/1"}, t0.Add(-time.Second), true},
		{"known at the same time", "ehr", []string{"Appointment/1"}, t0, false},
		{"known earlier than the change", "ehr", []string{"Appointment/1"}, t0.Add(time.Second), false},
		{"found by identifier key", "ehr", []string{"Appointment/unknown", idKey}, t0.Add(-time.Second), true},
		{"unknown record", "ehr", []string{"Appointment/2"}, t0.Add(-time.Hour), false},
		{"other vendor", "payments", []string{"Appointment/1"}, t0.Add(-time.Hour), false},
		{"zero time", "ehr", []string{"Appointment/1"}, time.Time{}, false},
		{"no keys", "ehr", nil, t0.Add(-time.Hour), false},
	}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			ctx := context.Background()
			l := newLedger(t, st)
			if err := l.Record(ctx, "ehr", ledger.Keys("Appointment", "1", res), res, t0); err != nil {
				t.Fatal(err)
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					got, err := l.Newer(ctx, tc.vendor, tc.keys, tc.at)
					if err != nil {
						t.Fatal(err)
					}
					if got != tc.want {
						t.Fatalf("Newer = %v, want %v", got, tc.want)
					}
				})
			}
		})
	}
}

func TestRecordZeroTimeIsNow(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			ctx := context.Background()
			l := newLedger(t, st) // Now is 2026-05-01
			keys := []string{"Patient/9"}
			if err := l.Record(ctx, "ehr", keys, []byte(`{"resourceType":"Patient","active":true}`), time.Time{}); err != nil {
				t.Fatal(err)
			}
			var changed, updated int64
			if err := st.DB().QueryRow(ctx, `SELECT changed_at, updated_at FROM switchboard_sync`).Scan(&changed, &updated); err != nil {
				t.Fatal(err)
			}
			if want := l.Now().UnixMicro(); changed != want || updated != want {
				t.Fatalf("changed_at %d updated_at %d, want %d", changed, updated, want)
			}
			if newer, _ := l.Newer(ctx, "ehr", keys, l.Now().Add(-time.Second)); !newer {
				t.Fatal("a client write recorded now is not newer than a change a second before")
			}
		})
	}
}

func TestNoPlaintextStored(t *testing.T) {
	const (
		recordID = "Zqrecordcanary"
		identVal = "Zqidentcanary"
		vendor   = "Zqvendorcanary"
		note     = "Zqnotecanary"
	)
	res := appt("2026-03-01T09:00:00Z", "2026-03-01T09:30:00Z",
		`,"comment":"`+note+`","identifier":[{"system":"`+sys+`booking","value":"`+identVal+`"},{"system":"urn:mrn","value":"`+identVal+`2"}]`)
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			ctx := context.Background()
			l := newLedger(t, st)
			keys := ledger.Keys("Appointment", recordID, res)
			if len(keys) != 2 {
				t.Fatalf("keys: %q", keys)
			}
			if err := l.Record(ctx, vendor, keys, res, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
			rows, err := st.DB().Query(ctx, `SELECT record_hash, fingerprint, CAST(changed_at AS TEXT), CAST(updated_at AS TEXT) FROM switchboard_sync`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var cols [4]string
				if err := rows.Scan(&cols[0], &cols[1], &cols[2], &cols[3]); err != nil {
					t.Fatal(err)
				}
				n++
				for _, c := range cols {
					for _, canary := range []string{recordID, identVal, vendor, note, "Appointment", "booking", "2026-03-01"} {
						if strings.Contains(c, canary) {
							t.Errorf("switchboard_sync holds %q in plaintext: %q", canary, c)
						}
					}
				}
				if len(cols[0]) != 64 || len(cols[1]) != 64 {
					t.Errorf("hashes are not hex HMAC-SHA256: %q %q", cols[0], cols[1])
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if n != len(keys) {
				t.Fatalf("%d rows, want one per key (%d)", n, len(keys))
			}
		})
	}
}
