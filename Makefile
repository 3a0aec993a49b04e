# Switchboard: two commands on a fresh machine.
#   make run    the hub on embedded SQLite with local vendor sandboxes
#   make test   everything, on SQLite and a throwaway PostgreSQL
.DEFAULT_GOAL := help
GO ?= go
BIN := var/bin
FUZZTIME ?= 1m

.PHONY: help run test bench chaos lint build clean conformance fuzz generate

help:
	@echo "make run     start the hub and local vendor sandboxes (SQLite, dev keys)"
	@echo "make test    unit, integration and end-to-end tests on SQLite and PostgreSQL"
	@echo "make bench   benchmarks against a bare River baseline; writes BENCHMARKS.md"
	@echo "make chaos   the fault suite (vendor down, 429, slow, resets, PostgreSQL outage, SIGKILL); writes RELIABILITY.md"
	@echo "make conformance  connectors' requests checked against the vendors' specs (needs ../shared)"
	@echo "make fuzz    every fuzz target for FUZZTIME (default 1m); figures in RELIABILITY.md"
	@echo "make lint    gofmt, go vet, staticcheck"
	@echo "make build   build the binaries into $(BIN)"
	@echo "make generate  rewrite what lists the connectors (README table, docs/connectors.md) from the registry"

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/switchboard ./cmd/switchboard
	$(GO) build -o $(BIN)/vendorsim ./cmd/vendorsim

generate:
	$(GO) generate ./connectors/all

run: build
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

bench:
	@bash scripts/bench.sh

chaos:
	@bash scripts/chaos.sh

conformance:
	@bash scripts/conformance.sh

fuzz:
	@FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null; then staticcheck ./...; \
	else echo "lint: staticcheck not installed (the module proxy here refuses it); gofmt and go vet ran"; fi

clean:
	rm -rf var/bin
