# JobSphere API. `make run` serves the embedded default; `make test` is
# what CI runs.
GO        ?= go
PKGS      := ./...
BIN       := bin/jobsphere
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PG_URL    ?= $(or $(TEST_DATABASE_URL),postgres://postgres@127.0.0.1:5432/test?sslmode=disable)

.PHONY: run build test test-go e2e check-generated generate console check-console lint bench chaos postgres-check

## run: serve on http://localhost:8080 with SQLite, sandbox payments and no configuration
run:
	$(GO) run ./cmd/jobsphere serve

## build: the binary in bin/
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/jobsphere

## test: generated code up to date, lint, every Go test with the race detector, then the Node end-to-end suite
test: check-generated check-console lint postgres-check test-go e2e

test-go:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	@# The ledger's model test at full length (5,000 operations per database):
	@# under -race it runs a shorter sequence to stay fast.
	$(GO) test -count=1 -run TestLedgerAgainstReferenceModel ./ledger/

## e2e: the real binary driven by Apollo Client, graphql-ws and graphql-http's audits (npm ci from the lockfile)
e2e: build
	cd e2e && npm ci --no-audit --no-fund --loglevel=error && JOBSPHERE_BIN=$(CURDIR)/$(BIN) npm test

## postgres-check: say clearly whether the PostgreSQL half of the suite will run
postgres-check:
	@TEST_DATABASE_URL='$(PG_URL)' $(GO) run ./server/servertest/pgcheck

## generate: ent code, graph/ent.graphqls and gqlgen code from ent/schema and graph/*.graphqls
generate:
	$(GO) run -mod=mod ./ent/entc.go
	$(GO) tool gqlgen generate

## check-generated: fail when committed generated code differs from what `make generate` makes
check-generated: generate
	@git diff --exit-code --stat -- ent graph gqlgen.yml go.mod go.sum || \
		(echo "generated code is stale: run 'make generate' and commit the result" && exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- ent graph)" || \
		(git status --porcelain -- ent graph; echo "generate made new files: commit them" && exit 1)

## console: the operator console (web/): the schema it is typed from, its operation types and its build in web/dist, which the binary embeds
console:
	$(GO) run ./web/sdl > web/schema.graphql
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build

## check-console: fail when the committed console (web/dist, its types, its schema) differs from what `make console` makes
check-console: console
	@git diff --exit-code --stat -- web/schema.graphql web/src/gql web/dist || \
		(echo "the console's build is stale: run 'make console' and commit web/" && exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- web/schema.graphql web/src/gql web/dist)" || \
		(git status --porcelain -- web/dist web/src/gql; echo "make console made new files: commit them" && exit 1)

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || (echo "gofmt needed:"; echo "$$out"; exit 1)
	$(GO) vet $(PKGS)

## bench: the load generator on PostgreSQL-backed servers: prints the table README's "Performance" shows (BENCH_FLAGS=-quick for a smoke run)
bench:
	$(GO) run ./cmd/jobsphere-bench $(BENCH_FLAGS)

## chaos: 4 servers on one PostgreSQL, 2,000 random operations from 50 clients, webhooks 3× shuffled, a SIGKILL every 5 s (its short form is in make test)
chaos:
	$(GO) run ./cmd/jobsphere-chaos $(CHAOS_FLAGS)
