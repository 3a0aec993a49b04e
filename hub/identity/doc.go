// Package identity carries a resource's identity across vendors without a
// crosswalk table (docs/decisions/0001-stateless-about-patients.md). The
// source of truth (the EHR destination named by the routing file's `identity:
// {record_at: ehr}`) holds, on each resource, the ids the other vendors gave
// it, as identifiers under https://switchboard.health/id/ (one system per
// vendor and record kind). Two pieces do it:
//
//   - WriteBack jobs: when a vendor answers a delivery with its id, the
//     deliver worker records a write-back (Recorder, a River job on the
//     source's queue, its payload sealed); the job waits for the source's
//     own delivery of the same entry, then adds the identifier there
//     (connectors.IdentifierWriter: read, add, PUT under If-Match).
//   - Enricher: before a delivery elsewhere, the source of truth completes
//     it: an update gets the vendor identifiers the source holds for the
//     resource (so Stripe updates cus_… instead of creating a customer), and
//     each literal reference (Patient/123) that the delivery's Bundle did
//     not carry is read from the source and handed over as Related, through
//     the destination's projection.
//
// Within one transaction Bundle the ids travel differently: a later entry
// refers to an earlier one by the id the same vendor gave it, kept sealed on
// the earlier delivery row (delivery.Refs). Nothing here is kept in clear
// and nothing outlives the transfer but the identifiers at the EHR.
package identity
