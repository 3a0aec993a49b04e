package outbound

import (
	"fmt"

	"github.com/switchboard-health/switchboard/connectors"
)

// Base is what every HTTP connector has in common, embedded so that a
// connector states its type once and does not rewrite Type, BreakerState
// and the destination's error prefix:
//
//	type Connector struct {
//		outbound.Base
//		...
//	}
//
//	b := outbound.NewBase(typeName, p, c.Settings)
//	base, basePath, err := b.BaseURL(c.BaseURL)
//	...
//	return &Connector{Base: b, ...}, nil
//
// Its Client sends every call, so the destination has one circuit breaker.
type Base struct {
	// Client is the destination's client, reporting breaker changes to
	// connectors.Params.Breakers.
	Client *Client
	typ    string
	p      connectors.Params
}

// NewBase builds the destination's client from its settings for the
// connector type typ. complete, when given, finishes the client's Options
// before the client is built (a vendor's own Classify).
func NewBase(typ string, p connectors.Params, s Settings, complete ...func(*Options)) Base {
	o := s.Options(p.Name, p.Logger).WithParams(p)
	for _, f := range complete {
		f(&o)
	}
	return Base{Client: New(o), typ: typ, p: p}
}

// Type implements connectors.Connector.
func (b Base) Type() string { return b.typ }

// BreakerState reports the destination's circuit breaker: "closed",
// "half-open" or "open".
func (b Base) BreakerState() string { return b.Client.BreakerState() }

// Accepts checks that d is a create or an update of one of types
// (connectors.Accepts under this connector's type).
func (b Base) Accepts(d connectors.Delivery, types ...string) error {
	return connectors.Accepts(b.typ, d, types...)
}

// Errorf is a configuration error that names the connector type and the
// destination: `stripe destination "payments": ...`.
func (b Base) Errorf(format string, args ...any) error {
	return fmt.Errorf("%s destination %q: "+format, append([]any{b.typ, b.p.Name}, args...)...)
}

// BaseURL checks base_url (connectors.BaseURL) for this destination.
func (b Base) BaseURL(raw string) (base, path string, err error) {
	return connectors.BaseURL(b.typ, b.p.Name, raw)
}

// Secret reads the secret the configuration field names
// (connectors.Params.Secret) for this destination.
func (b Base) Secret(field, envVar string) (string, error) {
	return b.p.Secret(b.typ, field, envVar)
}
