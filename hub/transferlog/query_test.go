package transferlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/transferlog"
)

func TestQueryFilters(t *testing.T) {
	// fill: odd rows are polls from ehr, even rows failed deliveries to
	// payments with digest-0 (rows 4, 8) or digest-2 (rows 2, 6, 10).
	cases := []struct {
		name string
		f    transferlog.Filter
		want []int64
	}{
		{"everything", transferlog.Filter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"after", transferlog.Filter{After: 7}, []int64{8, 9, 10}},
		{"from", transferlog.Filter{From: base.Add(9 * time.Second)}, []int64{9, 10}},
		{"to is exclusive", transferlog.Filter{To: base.Add(3 * time.Second)}, []int64{1, 2}},
		{"from and to", transferlog.Filter{From: base.Add(4 * time.Second), To: base.Add(6 * time.Second)}, []int64{4, 5}},
		{"event", transferlog.Filter{Event: transferlog.EventPoll}, []int64{1, 3, 5, 7, 9}},
		{"source", transferlog.Filter{Source: "ehr"}, []int64{1, 3, 5, 7, 9}},
		{"destination", transferlog.Filter{Destination: "payments"}, []int64{2, 4, 6, 8, 10}},
		{"connector as source", transferlog.Filter{Connector: "ehr"}, []int64{1, 3, 5, 7, 9}},
		{"connector as destination", transferlog.Filter{Connector: "payments"}, []int64{2, 4, 6, 8, 10}},
		{"connector and event", transferlog.Filter{Connector: "payments", Event: transferlog.EventPoll}, nil},
		{"resource type", transferlog.Filter{ResourceType: "Appointment"}, []int64{1, 3, 5, 7, 9}},
		{"outcome", transferlog.Filter{Outcome: "failed"}, []int64{2, 4, 6, 8, 10}},
		{"actor", transferlog.Filter{Actor: "reconciler"}, []int64{1, 3, 5, 7, 9}},
		{"transfer id", transferlog.Filter{TransferID: "tr_6"}, []int64{6}},
		{"subject", transferlog.Filter{SubjectHash: "abc123"}, []int64{2, 4, 6, 8, 10}},
		{"payload digest", transferlog.Filter{PayloadDigest: "digest-0"}, []int64{4, 8}},
		{"combined", transferlog.Filter{Destination: "payments", PayloadDigest: "digest-2", After: 2, To: base.Add(10 * time.Second)}, []int64{6}},
		{"no match", transferlog.Filter{Event: "nothing"}, nil},
		{"a value that looks like SQL", transferlog.Filter{Source: "x' OR '1'='1"}, nil},
	}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			l := newLog(t, st)
			fill(t, l)
			ctx := context.Background()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					rows, err := l.Query(ctx, tc.f, 100)
					if err != nil {
						t.Fatal(err)
					}
					if got := seqs(rows); !equal(got, tc.want) {
						t.Fatalf("Query: %v, want %v", got, tc.want)
					}
					var each []transferlog.Row
					if err := l.Each(ctx, tc.f, func(r transferlog.Row) error { each = append(each, r); return nil }); err != nil {
						t.Fatal(err)
					}
					if got := seqs(each); !equal(got, tc.want) {
						t.Fatalf("Each: %v, want %v", got, tc.want)
					}
				})
			}
			// Limit, then page on from the last seq.
			rows, err := l.Query(ctx, transferlog.Filter{Outcome: "failed"}, 2)
			if err != nil || !equal(seqs(rows), []int64{2, 4}) {
				t.Fatalf("limit 2: %v %v", seqs(rows), err)
			}
			rows, err = l.Query(ctx, transferlog.Filter{Outcome: "failed", After: rows[1].Seq}, 2)
			if err != nil || !equal(seqs(rows), []int64{6, 8}) {
				t.Fatalf("next page: %v %v", seqs(rows), err)
			}
			// Rows read back carry every column.
			r := rows[0]
			if r.Detail["error_code"] != "http_503" || r.HTTPStatus != 503 || r.Attempt != 6 || r.PayloadDigest != "digest-2" ||
				r.Direction != transferlog.Outbound || r.Interaction != "update" || r.ErrorClass != "retryable" || r.At.Location() != time.UTC {
				t.Fatalf("row 6: %+v", r)
			}
		})
	}
}

func seqs(rows []transferlog.Row) []int64 {
	var out []int64
	for _, r := range rows {
		out = append(out, r.Seq)
	}
	return out
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
