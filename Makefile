# Fluxbase — build, run and test.
#
#   make run     build and start Fluxbase with its embedded PostgreSQL
#   make test    run the whole test suite (formatting, vet, unit, integration, black-box)
#   make build   build the static binary bin/fluxbase
#   make lint    gofmt, go vet and staticcheck
#   make fuzz    every fuzz target for FUZZTIME (default 30s) each
#   make bench-rest  the REST benchmark against a hand-written baseline
#   make bench-auth  the auth benchmarks
#   make bench-realtime  the realtime load benchmark (10,000 WebSockets)
#   make bench-storage  the storage benchmark
#
# Each target installs what it needs (see scripts/ensure-deps.sh) and says so.

SHELL := /usr/bin/env bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG     := github.com/fluxbase/fluxbase/internal/buildinfo
LDFLAGS := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT) -X $(PKG).Date=$(DATE)
TOOLS   := $(CURDIR)/bin/tools
STATICCHECK_VERSION := v0.8.2
# Extra arguments for `make run`, e.g. make run ARGS="--http 0.0.0.0:8080".
ARGS ?=
# The race detector needs cgo and a C compiler; without one the tests run
# without it (and say so).
RACE ?= $(shell command -v cc >/dev/null 2>&1 && echo -race)
# Extra arguments for go test, e.g. make test TESTFLAGS="-run TestReady -v".
TESTFLAGS ?=

.PHONY: all build run test fmt-check vet lint deps test-deps clean bench bench-rest bench-auth bench-realtime bench-storage fuzz

all: build

deps:
	@scripts/ensure-deps.sh

# test-deps adds what only the tests need: Node.js with Supabase's JavaScript
# clients, and the mailpit and versitygw servers.
test-deps:
	@scripts/ensure-deps.sh test

build:
	@echo "==> building bin/fluxbase $(VERSION) (static, CGO_ENABLED=0)"
	@CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/fluxbase ./cmd/fluxbase

run: deps build
	@echo "==> starting Fluxbase (data in ./fluxbase_data; Ctrl-C stops it and its PostgreSQL)"
	./bin/fluxbase serve $(ARGS)

fmt-check:
	@echo "==> checking formatting (gofmt)"
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*'))"; \
	if [ -n "$$out" ]; then echo "these files need gofmt -w:"; echo "$$out"; exit 1; fi

vet:
	@echo "==> go vet"
	@$(GO) vet ./...

test: test-deps fmt-check vet build
	@echo "==> go test $(RACE) ./... (one real PostgreSQL is started for the run and stopped at the end)"
	@[ -n "$(RACE)" ] || echo "    note: no C compiler found, running without the race detector"
	@FLUXBASE_TEST_BINARY=$(CURDIR)/bin/fluxbase FLUXBASE_TEST_TOOLS=$(TOOLS) $(GO) test $(RACE) -count=1 -timeout 20m $(TESTFLAGS) ./...
	@# Under the race detector the injection corpus sends each payload through
	@# a rotating quarter of the targets; without it, every payload goes
	@# through every target.
	@[ -z "$(RACE)" ] || { echo "==> the full SQL-injection matrix (every payload through every target, without -race)"; \
		$(GO) test -count=1 -run '^TestInjectionCorpus$$' ./internal/rest/; }

$(TOOLS)/staticcheck:
	@echo "==> installing staticcheck $(STATICCHECK_VERSION) into bin/tools"
	@GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: fmt-check vet $(TOOLS)/staticcheck
	@echo "==> staticcheck"
	@$(TOOLS)/staticcheck ./...

# Runs every fuzz target for FUZZTIME each (seeds also run in make test).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "==> fuzzing $$target in $$pkg for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

bench: deps
	@$(GO) test -run '^$$' -bench . -benchtime 2s ./...

# The REST benchmark against a hand-written pgx baseline, and the schema
# cache's load time (see docs/benchmarks.md). BENCHFLAGS passes options,
# e.g. make bench-rest BENCHFLAGS="-duration 10s -pool 10".
BENCHFLAGS ?=
bench-rest: deps
	@$(GO) run ./bench/rest $(BENCHFLAGS)

# The realtime load benchmark: fluxbase runs as its own process and this
# program generates the load (see docs/benchmarks.md). BENCHFLAGS passes
# options, e.g. make bench-realtime BENCHFLAGS="-conns 2000".
bench-realtime: deps build
	@$(GO) run ./bench/realtime -binary bin/fluxbase $(BENCHFLAGS)

# The storage benchmark: 1 GiB up and down through the built binary on the
# local and S3 (versitygw) backends, against cp and direct minio-go in the
# same run, and 4 KiB objects at 50 clients (docs/benchmarks.md). Extra
# flags in STORAGEBENCHFLAGS, e.g. STORAGEBENCHFLAGS="-backends local -runs 5".
STORAGEBENCHFLAGS ?=
bench-storage: build test-deps
	@$(GO) run ./bench/storage -binary bin/fluxbase -versitygw $(TOOLS)/versitygw $(STORAGEBENCHFLAGS)

# The auth server's benchmarks (docs/benchmarks.md, "Auth"): refresh and
# /user against pgx running the same statements, sign-in against bcrypt.
bench-auth: deps
	@$(GO) test -run '^$$' -bench 'BenchmarkAuth(Refresh|GetUser)' -benchtime 300x -count 3 ./internal/auth/
	@$(GO) test -run '^$$' -bench 'BenchmarkAuthPasswordSignIn' -benchtime 20x -count 3 ./internal/auth/

clean:
	rm -rf bin
