package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/outcome"
	"github.com/switchboard-health/switchboard/hub/tracing"
	"github.com/switchboard-health/switchboard/hub/transfer"
	"github.com/switchboard-health/switchboard/hub/validation"
)

// clientID identifies the caller: idempotency keys are scoped to it, and
// it is the actor of the transfer's log rows.
func clientID(c echo.Context) string { return Actor(c) }

func (s *Server) create(c echo.Context) error { return s.write(c, connectors.Create) }
func (s *Server) update(c echo.Context) error { return s.write(c, connectors.Update) }

func (s *Server) write(c echo.Context, in connectors.Interaction) error {
	typ := c.Param("type")
	if !validation.IsResourceType(typ) {
		return fail(c, outcome.New(http.StatusBadRequest, "not-supported", "resourceType",
			"the URL does not name a FHIR R4 resource type"))
	}
	if !s.Routes.Routed(typ) {
		return fail(c, outcome.New(http.StatusNotFound, "not-supported", "",
			fmt.Sprintf("%s is not routed to any destination", typ)))
	}
	if len(s.Routes.For(typ, in)) == 0 {
		return fail(c, outcome.New(http.StatusMethodNotAllowed, "not-supported", "",
			fmt.Sprintf("%s %s is not routed to any destination", typ, in)))
	}
	body, oe := s.readBody(c)
	if oe != nil {
		return fail(c, oe)
	}
	res, err := s.Validator.Resource(body, typ)
	if err != nil {
		return fail(c, asOutcome(err))
	}
	id := ""
	if in == connectors.Update {
		id = c.Param("id")
		if res.ID == "" {
			return fail(c, outcome.New(http.StatusBadRequest, "required", typ+".id", "an update must carry the resource id in the body"))
		}
		if res.ID != id {
			return fail(c, outcome.New(http.StatusBadRequest, "invalid", typ+".id", "the id in the body differs from the id in the URL"))
		}
	}
	return s.accept(c, transfer.Submission{
		Kind:    transfer.KindResource,
		Body:    body,
		Entries: []transfer.Entry{{Interaction: in, ResourceType: typ, ResourceID: id, Resource: res.Raw}},
	})
}

func (s *Server) bundle(c echo.Context) error {
	body, oe := s.readBody(c)
	if oe != nil {
		return fail(c, oe)
	}
	b, err := s.Validator.Bundle(body)
	if err != nil {
		return fail(c, asOutcome(err))
	}
	if limit := s.bundleLimit(); len(b.Entries) > limit {
		return fail(c, tooManyEntries(len(b.Entries), limit))
	}
	sub := transfer.Submission{Kind: b.Type, Body: body}
	var issues []outcome.Issue
	for i, e := range b.Entries {
		in := connectors.Create
		id := ""
		if e.Method == http.MethodPut {
			in = connectors.Update
			if _, after, ok := strings.Cut(e.URL, "/"); ok {
				id = after
			}
		}
		perm := byte('c')
		if in == connectors.Update {
			perm = 'u'
		}
		if p := caller(c); p != nil && !p.Allows(e.Resource.Type, perm) {
			return fail(c, scopeError(e.Resource.Type, perm, fmt.Sprintf("Bundle.entry[%d].request", i)))
		}
		if len(s.Routes.For(e.Resource.Type, in)) == 0 {
			issues = append(issues, outcome.Issue{Severity: "error", Code: "not-supported",
				Expression:  fmt.Sprintf("Bundle.entry[%d].request", i),
				Diagnostics: fmt.Sprintf("%s %s is not routed to any destination", e.Resource.Type, in)})
			continue
		}
		sub.Entries = append(sub.Entries, transfer.Entry{Interaction: in, ResourceType: e.Resource.Type, ResourceID: id, Resource: e.Resource.Raw, FullURL: e.FullURL})
	}
	if len(issues) > 0 {
		// All or nothing for batch as for transaction: a partly routed Bundle
		// is a configuration question the client should see at once.
		return fail(c, &outcome.Error{Status: http.StatusUnprocessableEntity, Issues: issues})
	}
	if len(sub.Entries) == 0 {
		return fail(c, outcome.New(http.StatusBadRequest, "required", "Bundle.entry", "the Bundle has no entries"))
	}
	return s.accept(c, sub)
}

func (s *Server) accept(c echo.Context, sub transfer.Submission) error {
	sub.ClientID = clientID(c)
	sub.IdempotencyKey = c.Request().Header.Get("Idempotency-Key")
	if len(sub.IdempotencyKey) > 255 {
		return fail(c, outcome.New(http.StatusBadRequest, "too-long", "", "Idempotency-Key is longer than 255 characters"))
	}
	// A Bundle's accept grows with its entries (each is sealed per
	// destination and adds rows: 5,000 Patients to two destinations took
	// 2.2 s on two busy cores), so it may wait a millisecond an entry
	// longer than a single resource.
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.dbTimeout()+time.Duration(len(sub.Entries))*time.Millisecond)
	defer cancel()
	// "route": the routing table fans the entries out to destinations and
	// one transaction stores the transfer with its jobs ("enqueue").
	ctx, span := tracing.Tracer().Start(ctx, "route")
	acc, err := s.Transfers.Accept(ctx, sub)
	if err == nil {
		span.SetAttributes(attribute.String("switchboard.transfer_id", acc.ID), attribute.Int("switchboard.deliveries", acc.Deliveries),
			attribute.Bool("switchboard.idempotent_replay", acc.Replayed))
	} else {
		span.SetStatus(codes.Error, "")
	}
	span.End()
	if errors.Is(err, transfer.ErrIdempotencyConflict) {
		return fail(c, outcome.New(http.StatusUnprocessableEntity, "conflict", "",
			"this Idempotency-Key was used with a different request (another resource, or another method or URL)"))
	}
	if err != nil {
		s.Logger.Error("accept failed", "error", err)
		return fail(c, outcome.New(http.StatusServiceUnavailable, "transient", "",
			"the hub could not store the message; retry with the same Idempotency-Key"))
	}
	loc := "/transfers/" + acc.ID
	h := c.Response().Header()
	h.Set("Content-Location", loc)
	if acc.Replayed {
		h.Set("Idempotent-Replayed", "true")
	}
	s.Logger.Info("transfer accepted", "transfer_id", acc.ID, "deliveries", acc.Deliveries, "replayed", acc.Replayed)
	return c.Blob(http.StatusAccepted, "application/fhir+json", outcome.JSON(outcome.Issue{
		Severity: "information", Code: "informational",
		Diagnostics: fmt.Sprintf("accepted as transfer %s with %d deliveries; poll %s for status", acc.ID, acc.Deliveries, loc),
	}))
}

func (s *Server) status(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.dbTimeout())
	defer cancel()
	st, err := s.Transfers.Status(ctx, c.Param("id"))
	// An app sees its own transfers only; another's answers as unknown.
	if p := caller(c); err == nil && p != nil && p.Role == auth.RoleApp && st.ClientID != p.ID {
		err = transfer.ErrNotFound
	}
	if errors.Is(err, transfer.ErrNotFound) {
		return fail(c, outcome.New(http.StatusNotFound, "not-found", "", "no transfer with this id"))
	}
	if err != nil {
		s.Logger.Error("read transfer status", "error", err)
		return fail(c, outcome.New(http.StatusServiceUnavailable, "transient", "", "the hub could not read the transfer"))
	}
	return c.JSON(http.StatusOK, st)
}
