package calsim

import (
	"sync"
	"testing"
	"time"
)

// Who changed a booking and when, as Cal.com v2 answers it: a reschedule
// stamps rescheduledByEmail (the input's rescheduledBy) on both bookings,
// the new one's createdAt and the old one's updatedAt; a cancel stamps
// cancelledByEmail (the API key's user) and updatedAt.
func TestChangesRecordWhoAndWhen(t *testing.T) {
	var mu sync.Mutex
	now := testNow
	at := func(d time.Duration) string { return testNow.Add(d).Format(calTime) }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	_, base := start(t, Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})

	_, out := call(t, "POST", base+"/v2/bookings", BookingsVersion, bookingBody)
	uid, _ := data(out)["uid"].(string)
	if b := data(out); b["createdAt"] != at(0) || b["updatedAt"] != at(0) || b["rescheduledByEmail"] != nil || b["cancelledByEmail"] != nil {
		t.Fatalf("created: %v", b)
	}

	advance(time.Hour)
	status, out := call(t, "POST", base+"/v2/bookings/"+uid+"/reschedule", BookingsVersion,
		`{"start":"2030-03-05T10:00:00Z","rescheduledBy":"alex@example.org","reschedulingReason":"moved"}`)
	nb := data(out)
	newUID, _ := nb["uid"].(string)
	if status != 201 || nb["rescheduledByEmail"] != "alex@example.org" || nb["createdAt"] != at(time.Hour) ||
		nb["updatedAt"] != at(time.Hour) || nb["rescheduledFromUid"] != uid {
		t.Fatalf("new booking: %d %v", status, nb)
	}
	_, out = call(t, "GET", base+"/v2/bookings/"+uid, BookingsVersion, "")
	if old := data(out); old["rescheduledByEmail"] != "alex@example.org" || old["updatedAt"] != at(time.Hour) ||
		old["createdAt"] != at(0) || old["rescheduledToUid"] != newUID || old["status"] != "cancelled" {
		t.Fatalf("old booking: %v", old)
	}
	if status, _ := call(t, "POST", base+"/v2/bookings/"+uid+"/reschedule", BookingsVersion, `{"start":"2030-03-06T10:00:00Z"}`); status != 400 {
		t.Fatalf("rescheduling a rescheduled booking: %d, want 400", status)
	}
	if status, _ := call(t, "POST", base+"/v2/bookings/"+newUID+"/reschedule", BookingsVersion,
		`{"start":"2030-03-06T10:00:00Z","rescheduledBy":"not an email"}`); status != 400 {
		t.Fatalf("rescheduledBy that is not an email: %d, want 400", status)
	}

	advance(time.Hour)
	status, out = call(t, "POST", base+"/v2/bookings/"+newUID+"/cancel", BookingsVersion, `{"cancellationReason":"x"}`)
	if c := data(out); status != 200 || c["cancelledByEmail"] != HostEmail || c["updatedAt"] != at(2*time.Hour) ||
		c["createdAt"] != at(time.Hour) || c["status"] != "cancelled" {
		t.Fatalf("cancelled: %d %v", status, c)
	}
	if status, out := call(t, "POST", base+"/v2/bookings/"+newUID+"/cancel", BookingsVersion, `{}`); status != 400 || errCode(out) != "BadRequestException" {
		t.Fatalf("cancelling a cancelled booking: %d %v, want 400", status, out)
	}
}
