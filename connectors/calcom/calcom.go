// Package calcom is the scheduling connector (type "calcom") for Cal.com API
// v2. A FHIR Appointment becomes a Cal.com booking (see mappings/calcom for
// the fields):
//
//	POST {base_url}/v2/bookings                    no booking identifier: create
//	POST {base_url}/v2/bookings/{uid}/reschedule   a booking identifier and a start that differs from the booking's
//	POST {base_url}/v2/bookings/{uid}/cancel       a booking identifier and status cancelled
//
// The booking uid travels as an identifier with system
// https://switchboard.health/id/calcom-booking. Before rescheduling or
// cancelling, the booking is read (GET /v2/bookings/{uid}). Cal.com does not
// move a booking but replaces it: the old one is cancelled and carries
// rescheduledToUid, and Cal.com refuses to reschedule or cancel it again. So
// the read follows rescheduledToUid (at most 5 hops) to the live booking,
// and the write goes to that one. A reschedule whose start is already the
// live booking's changes nothing, so an update that only touched other
// fields does not move the meeting, and a reschedule retried after its
// answer was lost (a timeout, a 5xx after the write) finds its own effect
// instead of failing; a cancel of a booking already cancelled likewise
// writes nothing. The Result's VendorID is the live booking's uid (on a
// reschedule, the new booking's).
//
// Conflicts are settled in the same read: the later vendor timestamp wins.
// When a delivery carries a vendor's change (Delivery.ChangedAt) and the
// live booking, or one of its rescheduledToUid chain, was changed at Cal.com
// after it (updatedAt, or createdAt for a booking a reschedule made) by
// someone other than the hub, nothing is written and the Result is
// Superseded. A change is the hub's when its rescheduledByEmail or
// cancelledByEmail is organizer_email, or when the booking's
// metadata.switchboard_origin is the hub's and no other email is recorded.
//
// Cal.com ignores Idempotency-Key. So that a retried create does not book the
// patient twice, a create on attempt 2 or later first looks for a booking of
// the same attendee whose metadata.switchboard_transfer is this transfer
// (GET /v2/bookings?attendeeEmail&afterStart) and reports it instead. For
// the same reason every write (create, reschedule, cancel) is sent once per
// attempt (outbound.Request.Once): the inline retries of retry_max, which
// could not look first, apply to the reads only; the next attempt looks.
//
// Every request carries Authorization: Bearer <key>, cal-api-version
// (2024-08-13 for bookings, 2024-09-04 for slots) and the delivery's
// Idempotency-Key (Cal.com ignores it today; it costs nothing and keeps the
// shape of every connector). Other resource types fail permanently
// ("unsupported_resource"). Errors are classified by status
// (connectors.ClassifyStatus, Retry-After honoured); the Code is
// "calcom_<code>" from Cal.com's error object when it is a single word,
// else "calcom_<status>", never Cal.com's message (it can quote the body).
//
// The connector also answers FHIR searches (connectors.Searcher): Slot
// (GET /v2/slots) and Appointment (GET /v2/bookings, /v2/bookings/{uid}).
//
// # Configuration
//
// The destination's `config:` block is [Config]: each field's yaml and doc
// tags name and describe it; the registered spec and docs/connectors.md
// (go generate ./connectors/all) are read from there.
package calcom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
	"github.com/switchboard-health/switchboard/connectors/webhook"
	mapping "github.com/switchboard-health/switchboard/mappings/calcom"
)

// API versions Cal.com's v2 endpoints require in cal-api-version.
const (
	BookingsVersion = "2024-08-13"
	SlotsVersion    = "2024-09-04"
)

// typeName is the connector's registered type.
const typeName = "calcom"

func init() {
	connectors.Register(connectors.Spec{
		Type:    typeName,
		Summary: "Cal.com scheduling: an Appointment becomes a booking (created, rescheduled or cancelled); Slot and Appointment searches",
		Config:  Config{},
		Docs: connectors.Docs{
			Vendor:   "Cal.com API v2 (scheduling)",
			Receives: "`Appointment` → booking create, reschedule (only when the start moved), cancel; the attendee from a contained or related Patient; no clinical content",
			Searches: "`Slot` (`start`, `end`, `service-type`; from `/v2/slots`), `Appointment` (`identifier`, the booking uid, alone; or `patient.email` and/or a `date` window)",
			IDs:      "identifier `https://switchboard.health/id/calcom-booking`; transfer id in booking `metadata`",
		},
		New: New,
	})
}

// Config is the connector's configuration block.
type Config struct {
	BaseURL     string `yaml:"base_url" doc:"API base URL (default https://api.cal.com)"`
	APIKeyEnv   string `yaml:"api_key_env" doc:"environment variable holding the API key (default CALCOM_API_KEY)"`
	EventTypeID int64  `yaml:"event_type_id" doc:"Cal.com event type id for Appointments without a https://cal.com/event-type serviceType coding"`
	TimeZone    string `yaml:"time_zone" doc:"IANA time zone of attendees whose Patient has no tz-code extension, e.g. Europe/Lisbon"`
	SlotMinutes int    `yaml:"slot_minutes" doc:"length of a slot Cal.com returns without an end (default 30)"`
	// OrganizerEmail is the email of the Cal.com user whose API key the hub
	// uses: sent as rescheduledBy, and how the hub recognises its own
	// changes (rescheduledByEmail, cancelledByEmail) when it reads a booking.
	OrganizerEmail string `yaml:"organizer_email" doc:"email of the Cal.com user whose API key the hub uses (optional): sent as rescheduledBy, so that the hub's own reschedules and cancels are not taken for someone else's"`
	// WebhookSecretsEnv names the environment variables holding the
	// webhook secrets (several during a rotation).
	WebhookSecretsEnv []string `yaml:"webhook_secrets_env" doc:"environment variables holding the webhook secrets, several while rotating (optional: without them webhooks are refused)"`
	outbound.Settings `yaml:",inline"`
}

// Connector delivers Appointments to one Cal.com account and reads its
// slots and bookings.
type Connector struct {
	outbound.Base
	webhook.Receiver
	// System is the identifier system this connector's ids are written
	// back under at the EHR (connectors.Identified).
	connectors.System
	base     string
	basePath string
	key      string
	cfg      Config
	client   *outbound.Client
}

// New builds the connector and validates its configuration.
func New(p connectors.Params) (connectors.Connector, error) {
	c := Config{BaseURL: "https://api.cal.com", APIKeyEnv: "CALCOM_API_KEY", SlotMinutes: 30}
	if err := p.Decode(&c); err != nil {
		return nil, err
	}
	b := outbound.NewBase(typeName, p, c.Settings)
	base, basePath, err := b.BaseURL(c.BaseURL)
	if err != nil {
		return nil, err
	}
	key, err := b.Secret("api_key_env", c.APIKeyEnv)
	if err != nil {
		return nil, err
	}
	if c.EventTypeID < 0 {
		return nil, b.Errorf("event_type_id must be a positive Cal.com event type id")
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			return nil, b.Errorf("time_zone %q is not an IANA time zone", c.TimeZone)
		}
	}
	if c.OrganizerEmail != "" {
		if a, err := mail.ParseAddress(c.OrganizerEmail); err != nil || a.Address != c.OrganizerEmail {
			return nil, b.Errorf("organizer_email must be a bare email address")
		}
	}
	if c.SlotMinutes <= 0 {
		return nil, b.Errorf("slot_minutes must be positive")
	}
	rcv, err := webhook.NewReceiver(p, typeName, c.WebhookSecretsEnv,
		func(s []string) (connectors.WebhookVerifier, error) { return NewWebhookVerifier(s) })
	if err != nil {
		return nil, err
	}
	return &Connector{
		Base: b, System: mapping.BookingSystem,
		Receiver: rcv,
		base:     base,
		basePath: basePath,
		key:      key,
		cfg:      c,
	}, nil
}

// Deliver implements connectors.Deliverer.
func (c *Connector) Deliver(ctx context.Context, d connectors.Delivery) (connectors.Result, error) {
	if err := c.Accepts(d, "Appointment"); err != nil {
		return connectors.Result{}, err
	}
	plan, err := mapping.PlanDelivery(d.Resource, d.Related, mapping.Options{
		DefaultEventTypeID: c.cfg.EventTypeID, DefaultTimeZone: c.cfg.TimeZone, TransferID: d.TransferID,
		RescheduledBy: c.cfg.OrganizerEmail})
	if err != nil {
		return connectors.Result{}, connectors.PermanentError("mapping", err)
	}
	switch plan.Action {
	case mapping.Cancel:
		chain, status, err := c.live(ctx, plan.UID)
		if err != nil {
			return connectors.Result{}, err
		}
		live := chain[len(chain)-1]
		if !live.active() {
			// Cancelled already: by an earlier attempt whose answer was
			// lost, or at Cal.com. Either way nothing is left to do.
			return connectors.Result{Status: status, VendorID: live.uid}, nil
		}
		if c.superseded(chain, d.ChangedAt) {
			return connectors.Result{Status: status, VendorID: live.uid, Superseded: true}, nil
		}
		res, err := c.post(ctx, "/v2/bookings/"+url.PathEscape(live.uid)+"/cancel", "/v2/bookings/{uid}/cancel", plan.Body, d.IdempotencyKey)
		res.VendorID = live.uid
		return res, err
	case mapping.Reschedule:
		chain, status, err := c.live(ctx, plan.UID)
		if err != nil {
			return connectors.Result{}, err
		}
		live := chain[len(chain)-1]
		if live.start.Equal(plan.Start) {
			// Already there: an update of other fields, or this very
			// reschedule made by an attempt whose answer was lost.
			return connectors.Result{Status: status, VendorID: live.uid}, nil
		}
		if c.superseded(chain, d.ChangedAt) {
			return connectors.Result{Status: status, VendorID: live.uid, Superseded: true}, nil
		}
		res, err := c.post(ctx, "/v2/bookings/"+url.PathEscape(live.uid)+"/reschedule", "/v2/bookings/{uid}/reschedule", plan.Body, d.IdempotencyKey)
		if err == nil && res.VendorID == "" {
			res.VendorID = live.uid
		}
		return res, err
	default:
		if d.Attempt > 1 && d.TransferID != "" {
			uid, status, err := c.madeBy(ctx, plan, d.TransferID)
			if err != nil {
				return connectors.Result{}, err
			}
			if uid != "" {
				return connectors.Result{Status: status, VendorID: uid}, nil
			}
		}
		return c.post(ctx, "/v2/bookings", "/v2/bookings", plan.Body, d.IdempotencyKey)
	}
}

// madeBy finds a booking an earlier attempt of this transfer created: Cal.com
// ignores Idempotency-Key, so a create whose answer was lost (a timeout, a
// 5xx after the write) would otherwise book the patient twice. It looks at
// the attendee's bookings from the requested start on for the transfer id
// the mapping stores in metadata.switchboard_transfer.
func (c *Connector) madeBy(ctx context.Context, plan mapping.Plan, transferID string) (string, int, error) {
	v := url.Values{"attendeeEmail": {plan.Email}, "afterStart": {plan.Start.UTC().Add(-time.Minute).Format("2006-01-02T15:04:05.000Z")},
		"take": {"100"}, "skip": {"0"}}
	resp, err := c.do(ctx, c.get("/v2/bookings?"+v.Encode(), "/v2/bookings", BookingsVersion))
	if err != nil {
		return "", 0, err
	}
	var out struct {
		Data []struct {
			UID      string `json:"uid"`
			Status   string `json:"status"`
			Metadata struct {
				Transfer string `json:"switchboard_transfer"`
			} `json:"metadata"`
		} `json:"data"`
	}
	_ = json.Unmarshal(resp.Body, &out)
	for _, b := range out.Data {
		if b.UID != "" && b.Metadata.Transfer == transferID && b.Status != "cancelled" && b.Status != "rejected" {
			return b.UID, resp.Status, nil
		}
	}
	return "", resp.Status, nil
}

// post sends a bookings write and reads the booking uid from the answer.
func (c *Connector) post(ctx context.Context, path, template string, body []byte, key string) (connectors.Result, error) {
	resp, err := c.do(ctx, outbound.Request{
		Method: http.MethodPost, URL: c.base + path, PathTemplate: c.basePath + template,
		Body: body, IdempotencyKey: key, Header: c.header(BookingsVersion),
		// No write is repeated blindly within an attempt: Cal.com ignores
		// the key, and refuses to reschedule or cancel a booking twice. The
		// next attempt looks first (madeBy, live).
		Once: true,
	})
	if err != nil {
		return connectors.Result{}, err
	}
	var out struct {
		Data struct {
			UID string `json:"uid"`
		} `json:"data"`
	}
	_ = json.Unmarshal(resp.Body, &out) // a recurring booking answers a list: no single uid
	return connectors.Result{Status: resp.Status, VendorID: out.Data.UID}, nil
}

// maxHops bounds how many reschedules live follows from the booking a
// delivery names.
const maxHops = 5

// bookingState is what the connector reads of a booking before a write.
type bookingState struct {
	uid                  string // the uid asked for
	status               string
	start                time.Time
	rescheduledTo        string
	rescheduledBy        string
	cancelledBy          string
	origin               string // metadata.switchboard_origin
	createdAt, updatedAt time.Time
}

// active reports whether the booking still holds its time.
func (b bookingState) active() bool { return b.status != "cancelled" && b.status != "rejected" }

// booking reads one booking. Unreadable times are zero: a zero start makes
// the reschedule go out, a zero updatedAt is no conflict.
func (c *Connector) booking(ctx context.Context, uid string) (bookingState, int, error) {
	resp, err := c.do(ctx, c.get("/v2/bookings/"+url.PathEscape(uid), "/v2/bookings/{uid}", BookingsVersion))
	if err != nil {
		return bookingState{}, 0, err
	}
	var out struct {
		Data struct {
			Status             string `json:"status"`
			Start              string `json:"start"`
			RescheduledToUID   string `json:"rescheduledToUid"`
			RescheduledByEmail string `json:"rescheduledByEmail"`
			CancelledByEmail   string `json:"cancelledByEmail"`
			CreatedAt          string `json:"createdAt"`
			UpdatedAt          string `json:"updatedAt"`
			Metadata           struct {
				Origin any `json:"switchboard_origin"`
			} `json:"metadata"`
		} `json:"data"`
	}
	_ = json.Unmarshal(resp.Body, &out)
	b := bookingState{uid: uid, status: out.Data.Status, rescheduledTo: out.Data.RescheduledToUID,
		rescheduledBy: out.Data.RescheduledByEmail, cancelledBy: out.Data.CancelledByEmail}
	b.origin, _ = out.Data.Metadata.Origin.(string)
	b.start, _ = time.Parse(time.RFC3339, out.Data.Start)
	b.createdAt, _ = time.Parse(time.RFC3339, out.Data.CreatedAt)
	b.updatedAt, _ = time.Parse(time.RFC3339, out.Data.UpdatedAt)
	return b, resp.Status, nil
}

// live reads the booking uid and follows rescheduledToUid to the booking
// that replaced it, at most maxHops times: the chain from uid to the live
// booking, last, and the status of the last read. A uid already read ends
// the chain (Cal.com makes none; a mock answering one example can).
func (c *Connector) live(ctx context.Context, uid string) ([]bookingState, int, error) {
	b, status, err := c.booking(ctx, uid)
	if err != nil {
		return nil, 0, err
	}
	chain := []bookingState{b}
	seen := map[string]bool{uid: true}
	for b.rescheduledTo != "" && !seen[b.rescheduledTo] {
		if len(chain) > maxHops {
			return nil, 0, connectors.PermanentError("calcom_reschedule_chain",
				fmt.Errorf("the booking was rescheduled more than %d times: not followed further", maxHops))
		}
		seen[b.rescheduledTo] = true
		if b, status, err = c.booking(ctx, b.rescheduledTo); err != nil {
			return nil, 0, err
		}
		chain = append(chain, b)
	}
	return chain, status, nil
}

// superseded reports whether a booking of the chain was changed at Cal.com
// after changedAt by someone other than the hub: the later vendor timestamp
// wins. A booking's change time is its updatedAt, or for one a reschedule
// made (reached through rescheduledToUid) its createdAt if later. A zero
// changedAt (a client's write, not a vendor's change) never is.
func (c *Connector) superseded(chain []bookingState, changedAt time.Time) bool {
	if changedAt.IsZero() {
		return false
	}
	for i, b := range chain {
		at := b.updatedAt
		if i > 0 && b.createdAt.After(at) {
			at = b.createdAt
		}
		if at.After(changedAt) && !c.ours(b) {
			return true
		}
	}
	return false
}

// ours reports whether the hub made the booking's last change: no email but
// organizer_email is recorded as having rescheduled or cancelled it, and
// either organizer_email is (the hub sends it as rescheduledBy, and Cal.com
// records the API key's user as the canceller) or the hub made the booking
// (metadata.switchboard_origin).
func (c *Connector) ours(b bookingState) bool {
	org := c.cfg.OrganizerEmail
	mine := func(email string) bool { return org != "" && strings.EqualFold(strings.TrimSpace(email), org) }
	for _, by := range []string{b.rescheduledBy, b.cancelledBy} {
		if by != "" && !mine(by) {
			return false
		}
	}
	return mine(b.rescheduledBy) || mine(b.cancelledBy) || b.origin == mapping.OriginHub
}

// get is a GET of path (with its query) under base_url.
func (c *Connector) get(path, template, version string) outbound.Request {
	return outbound.Request{Method: http.MethodGet, URL: c.base + path,
		PathTemplate: c.basePath + template, Header: c.header(version)}
}

func (c *Connector) header(version string) http.Header {
	return http.Header{
		"Authorization":   {"Bearer " + c.key},
		"Cal-Api-Version": {version},
		"Content-Type":    {"application/json"},
		"Accept":          {"application/json"},
	}
}

// do makes the call and replaces the code of a failure with Cal.com's own.
func (c *Connector) do(ctx context.Context, req outbound.Request) (*outbound.Response, error) {
	if req.Method == http.MethodGet {
		req.Header.Del("Content-Type")
	}
	resp, err := c.Client.Do(ctx, req)
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && resp != nil {
			ce.Code = errorCode(resp.Status, resp.Body)
		}
		return resp, err
	}
	return resp, nil
}

// calWord is the shape of Cal.com's error codes (BadRequestException,
// NotFoundException); anything else is not copied.
var calWord = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// errorCode is "calcom_<code>" from Cal.com's {"status":"error","error":{"code":…}}
// or "calcom_<status>". Never the message, which can quote what was sent.
func errorCode(status int, body []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && calWord.MatchString(e.Error.Code) {
		return "calcom_" + e.Error.Code
	}
	return "calcom_" + strconv.Itoa(status)
}
