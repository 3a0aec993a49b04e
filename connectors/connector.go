// Package connectors holds the seam between the hub and the vendors: the small
// interfaces a connector implements, the error classes the delivery worker
// branches on, and the registry every connector adds itself to with one line.
//
// A connector is a folder under connectors/ (client, config spec, tests) plus a
// folder under mappings/ (pure FHIR <-> vendor functions). It registers itself
// from an init function:
//
//	func init() { connectors.Register(connectors.Spec{Type: "stripe", Config: Config{}, New: New, ...}) }
//
// and connectors/all imports the folder for its side effect (the one line
// naming it outside its folders). Nothing else in the hub changes when a
// vendor is added.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Interaction is the FHIR interaction a delivery carries out at the vendor.
type Interaction string

const (
	// Create is FHIR's create (POST /{type}).
	Create Interaction = "create"
	// Update is FHIR's update (PUT /{type}/{id}).
	Update Interaction = "update"
)

// Delivery is one FHIR resource on its way to one destination. Resource holds
// PHI: connectors must never log it, put it in an error, or keep it.
type Delivery struct {
	// TransferID is the hub's id for the accepted message; not PHI.
	TransferID string
	// Entry is the resource's index in its Bundle (0 for a single
	// resource); with TransferID it names the entry stably across retries
	// and replays, for vendors that want an external id of their own.
	Entry int
	// Destination is the configured name of the connector instance.
	Destination string
	// Interaction is create or update.
	Interaction Interaction
	// ResourceType is the FHIR resource type, e.g. "Patient".
	ResourceType string
	// ResourceID is the logical id from the URL of an update; empty on create.
	ResourceID string
	// Resource is the validated FHIR JSON exactly as accepted (never a
	// re-encoding of samply structs, which lose data).
	Resource []byte
	// IdempotencyKey is stable per (transfer, entry, destination) across every
	// automatic retry, so that at-least-once delivery has one effect at the vendor.
	IdempotencyKey string
	// Attempt counts from 1.
	Attempt int
	// Related holds other resources Resource refers to that came in the same
	// transaction Bundle, keyed by the reference as written in Resource
	// (a fullUrl such as "urn:uuid:…" or "Patient/123"), so that a vendor
	// needing several FHIR resources for one record (a claim with its patient
	// and coverage) gets them. PHI, like Resource. Contained resources are in
	// Resource itself.
	Related map[string][]byte
	// Resolved gives, for references in Resource to other entries of the
	// same transaction Bundle (keys as in Related: "urn:uuid:…"), what this
	// destination made of them: its own id for the entry delivered there
	// before this one. A connector refers to its own ids, never to a
	// urn:uuid or another vendor's id (the EHR connector rewrites such
	// references to "Patient/{its id}"). The hub also adds the id to the
	// matching Related resource as an identifier of the connector's system.
	Resolved map[string]VendorRef
	// Match ("system|value") finds the record an update without ResourceID
	// changes (a change a vendor reported, Inbound.Match).
	Match string
	// ChangedAt is the vendor's time of the change this delivery carries
	// when it came from a vendor (a webhook or a poll); zero for a client's
	// write. A connector that reads the record before writing it leaves a
	// record changed at the destination after ChangedAt alone and reports
	// Result.Superseded: the later vendor timestamp wins (README, "Two-way
	// sync").
	ChangedAt time.Time
}

// VendorRef is what a destination made of a resource: its own id and the
// identifier system under which that id is written back to the source of
// truth (see Identified). PHI-adjacent: never logged.
type VendorRef struct {
	ResourceType string `json:"type"`
	ID           string `json:"id"`
	System       string `json:"system,omitempty"`
}

// IdentifierSystemPrefix starts every identifier system the hub manages
// (https://switchboard.health/id/stripe-customer, …). Identifiers under it
// are the hub's: the EHR connector keeps them when a client's update omits
// them, and the hub copies them from the EHR into deliveries elsewhere.
const IdentifierSystemPrefix = "https://switchboard.health/id/"

// Result is what a successful delivery reports back. It holds no PHI.
type Result struct {
	// Status is the vendor's final HTTP status.
	Status int
	// VendorID is the id the vendor gave the record (e.g. cus_123), used for
	// identifier write-back; it is not logged.
	VendorID string
	// Superseded says nothing was written because the record changed at the
	// vendor after the change this delivery carries (Delivery.ChangedAt):
	// the delivery is recorded as skipped, and the vendor's own, later
	// change comes back through its webhook or poll.
	Superseded bool
}

// Identified is implemented by connectors whose ids are written back to
// the source of truth (the EHR) as identifiers: IdentifierSystem names the
// system for a resource type, e.g.
// https://switchboard.health/id/stripe-customer for a Patient at Stripe;
// "" for none.
type Identified interface {
	IdentifierSystem(resourceType string) string
}

// Deliverer sends one resource to a vendor. Every connector implements it.
// Errors should be *Error (use Classify or the constructors) so the worker can
// tell a permanent failure from one worth retrying.
type Deliverer interface {
	Deliver(ctx context.Context, d Delivery) (Result, error)
}

// Connector is a configured vendor connection. Beyond Deliverer, a connector
// may implement optional interfaces (reads, webhooks, polling) that the hub
// discovers with type assertions, as net/http does with http.Flusher.
type Connector interface {
	Deliverer
	// Type is the registered connector type, e.g. "stripe".
	Type() string
}

// WebhookEvent is an inbound webhook whose signature verified. Body holds
// PHI; the other fields do not.
type WebhookEvent struct {
	// ID is the vendor's event id (Stripe evt_…, Standard Webhooks'
	// webhook-id, …), the de-duplication key. Never PHI.
	ID string
	// Type is the vendor's event type, e.g. "payment_intent.succeeded" or
	// "BOOKING_CREATED"; "" when the scheme does not carry one.
	Type string
	// Time is the signature timestamp, zero when the scheme has none.
	Time time.Time
	// Body is the raw request body, exactly as signed. PHI.
	Body []byte
}

// WebhookRequest is what a verifier sees of an inbound webhook: the raw
// body exactly as received (signatures cover bytes, not JSON) and the
// request line and headers.
type WebhookRequest struct {
	Method string
	// URL is the full URL the vendor called, as it would have computed it
	// (scheme, host, path and query), for schemes that sign it (HubSpot v3).
	URL    string
	Header http.Header
	Body   []byte
}

// WebhookVerifier is implemented by connectors that accept webhooks at
// POST /webhooks/{destination}. Verify checks the vendor's signature scheme
// against every configured secret (several, so a secret can be rotated
// without downtime) and the timestamp tolerance, and returns the event. A
// missing, forged, stale or body-tampered request is an error wrapping
// ErrUnauthenticated; the error text is PHI-free and names what failed
// ("no signature header", "timestamp outside tolerance", ...).
type WebhookVerifier interface {
	VerifyWebhook(r WebhookRequest, now time.Time) (WebhookEvent, error)
}

// Inbound is one change a vendor told the hub about, mapped to FHIR, to be
// routed like any write (to every destination but the vendor it came from).
type Inbound struct {
	ResourceType string
	// Interaction is create, or update of the record Match finds.
	Interaction Interaction
	// Match ("system|value") finds the record an update changes at the
	// destinations (the booking's uid on an Appointment, the Consent's
	// key): FHIR servers are updated by identifier, not by an id the
	// vendor cannot know.
	Match string
	// Resource is FHIR R4 JSON. PHI.
	Resource []byte
	// Ours says the change is the hub's own write coming back (its origin
	// tag or metadata): it is recorded and dropped, never routed again
	// (docs/decisions/0007-reconcilers-and-loops.md, no loops).
	Ours bool
	// Record is the vendor's id of the record changed (a booking uid): with
	// the source it keys the hub's keyed content hash of what it last
	// knew of the record, so an echo of its own write, or a change that
	// changes nothing the hub syncs, is dropped. "" skips that check.
	Record string
	// ChangedAt is the vendor's time of the change (zero if unknown).
	ChangedAt time.Time
}

// WebhookTranslator is implemented by connectors whose webhooks carry
// changes: it maps a verified event to FHIR. An event the hub has no use
// for gives no Inbound and no error. Errors are PHI-free.
type WebhookTranslator interface {
	TranslateWebhook(ctx context.Context, ev WebhookEvent) ([]Inbound, error)
}

// ErrUnauthenticated is wrapped by every webhook verification failure.
var ErrUnauthenticated = errors.New("webhook signature not verified")

// Reader is implemented by connectors that read one resource by id (the
// EHR): the hub asks the source of truth for a resource's identifiers at the
// other vendors, and for resources a delivery refers to. ErrNotFound when
// the server has no such resource; other failures are *Error.
type Reader interface {
	Read(ctx context.Context, resourceType, id string) ([]byte, error)
}

// ErrNotFound is returned by Reader when the resource does not exist.
var ErrNotFound = errors.New("resource not found")

// IdentifierWrite asks the source of truth to record a vendor's id on a
// resource as an identifier (docs/decisions/0001-stateless-about-patients.md:
// no crosswalk table).
type IdentifierWrite struct {
	ResourceType string
	// ID is the resource's id at the source of truth.
	ID         string
	Identifier VendorRef
	// IdempotencyKey is stable for the write's retries.
	IdempotencyKey string
}

// IdentifierWriter is implemented by the connector of the source of truth.
// Writing an identifier it already has is a no-op; one of the same system
// with another value is replaced (the vendor record was re-created).
type IdentifierWriter interface {
	WriteIdentifier(ctx context.Context, w IdentifierWrite) error
}

// Class says what the delivery worker should do with a failed attempt.
type Class string

const (
	// Permanent failures are not retried: the job is discarded and becomes a
	// failed sync that an admin can replay. 4xx other than 408, 409 and 429.
	Permanent Class = "permanent"
	// Retryable failures are retried with backoff: 5xx, 408, 409, 429,
	// timeouts and connection errors.
	Retryable Class = "retryable"
	// BreakerOpen means the destination's circuit breaker refused the call;
	// the job is snoozed, not failed, and its attempt is not consumed.
	BreakerOpen Class = "breaker_open"
	// Throttled means the destination's rate limit held the call back
	// before it reached the vendor; like BreakerOpen, the job is snoozed
	// for RetryAfter and its attempt is not consumed.
	Throttled Class = "throttled"
)

// Error is a classified delivery failure. Its message must never contain PHI:
// say what was attempted and the vendor's status or error code, not the
// payload or anything the vendor echoed back from it.
type Error struct {
	Class Class
	// Status is the vendor's HTTP status, 0 when no response arrived.
	Status int
	// RetryAfter is the vendor's Retry-After (or the breaker's remaining open
	// time); zero means use the queue's backoff.
	RetryAfter time.Duration
	// Code is a short PHI-free reason, e.g. "http_503", "timeout", "mapping".
	Code string
	// Err is the underlying error, already PHI-free.
	Err error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s delivery failure (%s", e.Class, e.Code)
	if e.Status != 0 {
		msg += fmt.Sprintf(", status %d", e.Status)
	}
	msg += ")"
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err: the class of an *Error in its chain,
// Retryable for context deadline errors and anything unclassified (an
// unknown failure is safer retried than dropped), and "" for nil.
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Class
	}
	return Retryable
}

// ClassifyStatus maps a vendor HTTP status to a class per
// docs/decisions/0005-delivery-semantics.md.
func ClassifyStatus(status int) Class {
	switch {
	case status >= 200 && status < 300:
		return ""
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status == http.StatusTooManyRequests:
		return Retryable
	case status >= 400 && status < 500:
		return Permanent
	default:
		return Retryable
	}
}

// PermanentError wraps err as a permanent failure with a PHI-free code.
func PermanentError(code string, err error) *Error {
	return &Error{Class: Permanent, Code: code, Err: err}
}

// Env resolves configuration values that name secrets, such as an API key
// read from an environment variable. It is a function so tests need no globals.
type Env func(name string) (string, bool)

// Decoder decodes a connector's own configuration block into its struct
// (strictly: unknown fields are errors).
type Decoder func(into any) error

// Params is what a connector's constructor receives.
type Params struct {
	// Name is the destination's configured name (e.g. "payments"); it names
	// the River queue, the circuit breaker and the metrics of this instance.
	Name string
	// Decode decodes the destination's `config:` block into the connector's
	// own struct, rejecting unknown fields.
	Decode Decoder
	// Env resolves environment variables named by the configuration.
	Env Env
	// Logger is the hub's redacting logger, already scoped to the destination.
	Logger *slog.Logger
	// Breakers, when set, is told of every change of the destination's
	// circuit breaker; a connector passes it on to its outbound client
	// (outbound.NewBase does, through outbound.Options.WithBreakers). Nil
	// in tests and tools that need no reports.
	Breakers BreakerObserver
	// Limiter, when set, is the destination's rate limit, shared by every
	// hub process; a connector passes it on to its outbound client
	// (outbound.Options.WithParams), which takes a place in it before
	// every HTTP try.
	Limiter Limiter
}

// BreakerObserver is told when a destination's circuit breaker changes
// state, so the hub can publish the state for the admin health view and
// alert on an opening (package alert). States are "closed", "half-open" and
// "open". BreakerChanged is called on the delivery path, outside the
// breaker's lock, and must not block: an implementation hands any I/O to a
// goroutine.
type BreakerObserver interface {
	BreakerChanged(destination, from, to string)
}

// Spec describes a connector type: its name, how to build one from its
// configuration block, and the documentation of that block.
type Spec struct {
	// Type is the name used in the routing file's `type:` field.
	Type string
	// Summary is one line on what the connector talks to.
	Summary string
	// Config is the connector's config struct (a zero value, e.g.
	// Config{}): its `yaml` and `doc` tags are the configuration block's
	// documentation (ConfigFields), so a field is declared once. Register
	// fills Fields from it.
	Config any
	// Fields documents each configuration field: name -> description.
	// Derived from Config when that is set.
	Fields map[string]string
	// Docs is what the README's connector table says of the connector
	// (cmd/gen writes the table from the registry).
	Docs Docs
	// New builds a connector named name from its configuration. It must
	// validate the configuration and fail with a message that names the
	// missing field or environment variable.
	New func(p Params) (Connector, error)
}

// Docs describes a connector for the README's connector table, in
// Markdown, one cell each.
type Docs struct {
	// Vendor is what the connector talks to, e.g. "Stripe (payments)".
	Vendor string
	// Receives is the FHIR writes it takes and what they become.
	Receives string
	// Searches is the FHIR searches it answers; "" for none.
	Searches string
	// IDs says how the vendor's id and the hub's travel.
	IDs string
}

// The registry is the one piece of package-level state the hub allows: it is
// written only from init functions and read after main starts.
var (
	registryMu sync.RWMutex
	registry   = map[string]Spec{}
)

// Register adds a connector type. It panics on a duplicate or empty type,
// since that is a programming error found at start-up.
func Register(s Spec) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if s.Type == "" || s.New == nil {
		panic("connectors: Register needs a Type and a New function")
	}
	if _, dup := registry[s.Type]; dup {
		panic("connectors: type " + s.Type + " registered twice")
	}
	if s.Config != nil {
		fields, err := ConfigFields(s.Config)
		if err != nil {
			panic("connectors: type " + s.Type + ": " + err.Error())
		}
		s.Fields = fields
	}
	registry[s.Type] = s
}

// Lookup returns the spec registered for typ.
func Lookup(typ string) (Spec, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s, ok := registry[typ]
	return s, ok
}

// Types lists the registered connector types, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// BaseURL checks a connector's base_url (an http(s) URL without a query)
// and returns it without a trailing slash, with its escaped path for the
// path templates that are logged. typ and dest name the connector type and
// the destination in the message.
func BaseURL(typ, dest, raw string) (base, path string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", "", fmt.Errorf("%s destination %q: base_url must be an http(s) URL without a query", typ, dest)
	}
	return strings.TrimRight(raw, "/"), strings.TrimRight(u.EscapedPath(), "/"), nil
}

// Secret reads a secret from the environment variable envVar, which the
// configuration field field names; the message names the field or the
// variable, never a value.
func (p Params) Secret(typ, field, envVar string) (string, error) {
	if envVar == "" {
		return "", fmt.Errorf("%s destination %q: %s must name an environment variable", typ, p.Name, field)
	}
	v, _ := p.Env(envVar)
	if v == "" {
		return "", fmt.Errorf("%s destination %q: environment variable %s is empty", typ, p.Name, envVar)
	}
	return v, nil
}

// Accepts checks that d is a create or an update of one of the resource
// types a connector takes, and otherwise returns the permanent failure
// every connector reports for it ("unsupported_resource" or
// "unsupported_interaction").
func Accepts(connType string, d Delivery, types ...string) error {
	if !slices.Contains(types, d.ResourceType) {
		return PermanentError("unsupported_resource", fmt.Errorf("%s takes %s, not %s", connType, listed(types), d.ResourceType))
	}
	if d.Interaction != Create && d.Interaction != Update {
		return PermanentError("unsupported_interaction", fmt.Errorf("%s takes create and update, not %q", connType, d.Interaction))
	}
	return nil
}

// listed writes "A", "A and B", "A, B and C".
func listed(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// FieldNames lists the configuration fields the spec documents, sorted.
func (s Spec) FieldNames() []string {
	names := make([]string, 0, len(s.Fields))
	for f := range s.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	return names
}

// IdentifierStoreOf is c as the Reader and IdentifierWriter the routing
// file's identity.record_at needs, or an error saying it is not both.
func IdentifierStoreOf(c Connector) (Reader, IdentifierWriter, error) {
	rd, rok := c.(Reader)
	wr, wok := c.(IdentifierWriter)
	if !rok || !wok {
		return nil, nil, errors.New("cannot read and write identifiers")
	}
	return rd, wr, nil
}
