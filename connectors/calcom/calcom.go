// Package calcom is the scheduling connector (type "calcom") for Cal.com API
// v2. A FHIR Appointment becomes a Cal.com booking (see mappings/calcom for
// the fields):
//
//	POST {base_url}/v2/bookings                    no booking identifier: create
//	POST {base_url}/v2/bookings/{uid}/reschedule   a booking identifier and a start that differs from the booking's
//	POST {base_url}/v2/bookings/{uid}/cancel       a booking identifier and status cancelled
//
// The booking uid travels as an identifier with system
// https://switchboard.health/id/calcom-booking. Before rescheduling, the
// booking is read (GET /v2/bookings/{uid}) and a delivery whose start is
// already the booking's changes nothing, so an update that only touched
// other fields does not move the meeting. Rescheduling makes Cal.com create
// a new booking: the Result's VendorID is then the new uid, otherwise the
// booking's uid.
//
// Cal.com ignores Idempotency-Key. So that a retried create does not book the
// patient twice, a create on attempt 2 or later first looks for a booking of
// the same attendee whose metadata.switchboard_transfer is this transfer
// (GET /v2/bookings?attendeeEmail&afterStart) and reports it instead. For
// the same reason a create is sent once per attempt (outbound.Request.Once):
// the inline retries of retry_max, which could not look first, apply to the
// other calls only.
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
// The destination's `config:` block:
//
//	base_url          API base (default https://api.cal.com; the Prism mock: http://127.0.0.1:4012)
//	api_key_env       environment variable holding the API key (default CALCOM_API_KEY)
//	event_type_id     event type of Appointments without a https://cal.com/event-type serviceType
//	time_zone         attendee time zone when the Patient has no tz-code extension (IANA, e.g. Europe/Lisbon)
//	slot_minutes      length of a slot Cal.com returns without an end (default 30)
//	timeout, retry_max, breaker_failures, breaker_open_for  as for every connector
package calcom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
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

func init() {
	connectors.Register(connectors.Spec{
		Type:    "calcom",
		Summary: "Cal.com scheduling: an Appointment becomes a booking (created, rescheduled or cancelled); Slot and Appointment searches",
		Fields: outbound.SettingsFields(map[string]string{
			"webhook_secrets_env": "environment variables holding the webhook secrets, several while rotating (optional: without them webhooks are refused)",
			"base_url":            "API base URL (default https://api.cal.com)",
			"api_key_env":         "environment variable holding the API key (default CALCOM_API_KEY)",
			"event_type_id":       "Cal.com event type id for Appointments without a https://cal.com/event-type serviceType coding",
			"time_zone":           "IANA time zone of attendees whose Patient has no tz-code extension, e.g. Europe/Lisbon",
			"slot_minutes":        "length of a slot Cal.com returns without an end (default 30)",
		}),
		New: New,
	})
}

// Config is the connector's configuration block.
type Config struct {
	BaseURL     string `yaml:"base_url"`
	APIKeyEnv   string `yaml:"api_key_env"`
	EventTypeID int64  `yaml:"event_type_id"`
	TimeZone    string `yaml:"time_zone"`
	SlotMinutes int    `yaml:"slot_minutes"`
	// WebhookSecretsEnv names the environment variables holding the
	// webhook secrets (several during a rotation).
	WebhookSecretsEnv []string `yaml:"webhook_secrets_env"`
	outbound.Settings `yaml:",inline"`
}

// Connector delivers Appointments to one Cal.com account and reads its
// slots and bookings.
type Connector struct {
	webhook.Receiver
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
	base, basePath, err := connectors.BaseURL("calcom", p.Name, c.BaseURL)
	if err != nil {
		return nil, err
	}
	key, err := p.Secret("calcom", "api_key_env", c.APIKeyEnv)
	if err != nil {
		return nil, err
	}
	if c.EventTypeID < 0 {
		return nil, fmt.Errorf("calcom destination %q: event_type_id must be a positive Cal.com event type id", p.Name)
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			return nil, fmt.Errorf("calcom destination %q: time_zone %q is not an IANA time zone", p.Name, c.TimeZone)
		}
	}
	if c.SlotMinutes <= 0 {
		return nil, fmt.Errorf("calcom destination %q: slot_minutes must be positive", p.Name)
	}
	rcv, err := webhook.NewReceiver(p, "calcom", c.WebhookSecretsEnv,
		func(s []string) (connectors.WebhookVerifier, error) { return NewWebhookVerifier(s) })
	if err != nil {
		return nil, err
	}
	return &Connector{
		Receiver: rcv,
		base:     base,
		basePath: basePath,
		key:      key,
		cfg:      c,
		client:   c.Settings.Client(p.Name, p.Logger),
	}, nil
}

// Type implements connectors.Connector.
func (c *Connector) Type() string { return "calcom" }

// BreakerState reports the destination's circuit breaker.
func (c *Connector) BreakerState() string { return c.client.BreakerState() }

// IdentifierSystem implements connectors.Identified: the identifier
// system this connector's ids are written back under at the EHR.
func (c *Connector) IdentifierSystem(resourceType string) string {
	return mapping.BookingSystem
}

// Deliver implements connectors.Deliverer.
func (c *Connector) Deliver(ctx context.Context, d connectors.Delivery) (connectors.Result, error) {
	if err := connectors.Accepts("calcom", d, "Appointment"); err != nil {
		return connectors.Result{}, err
	}
	plan, err := mapping.PlanDelivery(d.Resource, d.Related, mapping.Options{
		DefaultEventTypeID: c.cfg.EventTypeID, DefaultTimeZone: c.cfg.TimeZone, TransferID: d.TransferID})
	if err != nil {
		return connectors.Result{}, connectors.PermanentError("mapping", err)
	}
	switch plan.Action {
	case mapping.Cancel:
		res, err := c.post(ctx, "/v2/bookings/"+url.PathEscape(plan.UID)+"/cancel", "/v2/bookings/{uid}/cancel", plan.Body, d.IdempotencyKey)
		res.VendorID = plan.UID
		return res, err
	case mapping.Reschedule:
		current, status, err := c.booking(ctx, plan.UID)
		if err != nil {
			return connectors.Result{}, err
		}
		if current.Equal(plan.Start) {
			return connectors.Result{Status: status, VendorID: plan.UID}, nil
		}
		return c.post(ctx, "/v2/bookings/"+url.PathEscape(plan.UID)+"/reschedule", "/v2/bookings/{uid}/reschedule", plan.Body, d.IdempotencyKey)
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
		// A create is never repeated blindly within an attempt: Cal.com
		// ignores the key, and madeBy looks for the booking on the next one.
		Once: template == "/v2/bookings",
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

// booking reads a booking's start.
func (c *Connector) booking(ctx context.Context, uid string) (time.Time, int, error) {
	resp, err := c.do(ctx, c.get("/v2/bookings/"+url.PathEscape(uid), "/v2/bookings/{uid}", BookingsVersion))
	if err != nil {
		return time.Time{}, 0, err
	}
	var out struct {
		Data struct {
			Start string `json:"start"`
		} `json:"data"`
	}
	_ = json.Unmarshal(resp.Body, &out)
	start, _ := time.Parse(time.RFC3339, out.Data.Start) // unreadable: zero, so the reschedule is sent
	return start, resp.Status, nil
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
	resp, err := c.client.Do(ctx, req)
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
