package transfer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/transfer"
)

// TestAcceptBundleOfManyDeliveries accepts a batch whose deliveries bind
// more parameters than one statement may hold on either database (issue
// 14: 1,366 Patients to three destinations failed on SQLite with "too many
// SQL variables", answered 503 for ever). 5,000 entries to two
// destinations are 10,000 deliveries: 80,000 parameters in one INSERT on
// SQLite (limit 32,766) and 90,000 on PostgreSQL (pgx's limit 65,535).
func TestAcceptBundleOfManyDeliveries(t *testing.T) {
	const entries = 5000
	for dialect, st := range stores(t) {
		t.Run(string(dialect), func(t *testing.T) {
			ctx := context.Background()
			svc := service(t, st)
			sub := transfer.Submission{ClientID: "app", Kind: transfer.KindBatch, Body: []byte("batch")}
			for i := range entries {
				sub.Entries = append(sub.Entries, transfer.Entry{Interaction: connectors.Create, ResourceType: "Patient",
					FullURL:  fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", i),
					Resource: []byte(`{"resourceType":"Patient","active":true}`)})
			}
			acc, err := svc.Accept(ctx, sub)
			if err != nil {
				t.Fatalf("accept %d entries: %v", entries, err)
			}
			if acc.Deliveries != 2*entries {
				t.Fatalf("deliveries = %d, want %d", acc.Deliveries, 2*entries)
			}
			if n := count(t, st, `SELECT COUNT(*) FROM switchboard_delivery WHERE transfer_id = $1`, acc.ID); n != 2*entries {
				t.Fatalf("delivery rows = %d, want %d", n, 2*entries)
			}
			if n := count(t, st, `SELECT COUNT(DISTINCT job_id) FROM switchboard_delivery WHERE transfer_id = $1`, acc.ID); n != 2*entries {
				t.Fatalf("distinct jobs of the deliveries = %d, want %d", n, 2*entries)
			}
			if n := count(t, st, `SELECT COUNT(*) FROM river_job`); n != 2*entries {
				t.Fatalf("river jobs = %d, want %d", n, 2*entries)
			}
		})
	}
}
