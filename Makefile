# JobSphere API. `make run` serves the embedded default; `make test` is
# what CI runs.
GO        ?= go
PKGS      := ./...
BIN       := bin/jobsphere
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PG_URL    ?= $(or $(TEST_DATABASE_URL),postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
GO_BUILD  = $(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/jobsphere

.PHONY: run build test test-go e2e check-generated generate graphiql-assets check-graphiql-assets console check-console lint bench chaos services-check chromium

## run: build, then serve on http://localhost:8080 with SQLite, sandbox payments and no configuration (RUN_FLAGS="--port 9999" for another port); Ctrl-C stops it
run:
	@echo "building $(BIN) (the first build takes a minute or two)…"
	@$(GO_BUILD)
	@echo "starting $(strip $(BIN) serve --foreground $(RUN_FLAGS)) (Ctrl-C stops it)"
	@# --foreground: the server takes the terminal, so Ctrl-C reaches it
	@# alone (not make too) and its clean exit (status 0) is make's.
	@exec $(BIN) serve --foreground $(RUN_FLAGS)

## build: the binary in bin/
build:
	$(GO_BUILD)

## test: generated code up to date, lint, every Go test with the race detector, then the Node end-to-end suite
test: check-generated check-console lint services-check test-go e2e

test-go:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	@# The ledger's model test at full length (5,000 operations per database):
	@# under -race it runs a shorter sequence to stay fast.
	$(GO) test -count=1 -run TestLedgerAgainstReferenceModel ./ledger/

## e2e: the real binary driven by Apollo Client, graphql-ws, graphql-http's audits and Chromium (npm ci from the lockfile)
e2e: build chromium
	cd e2e && npm ci --no-audit --no-fund --loglevel=error && JOBSPHERE_BIN=$(CURDIR)/$(BIN) npm test

## chromium: install Debian's Chromium for the browser tests when it is missing (as root or with sudo); without it they are skipped, except under CI=true
chromium:
	@sh e2e/chromium.sh

## services-check: say clearly whether the suite's PostgreSQL and NATS tests will run (TEST_DATABASE_URL, TEST_NATS_URL); under CI=true both are mandatory
services-check:
	@TEST_DATABASE_URL='$(PG_URL)' $(GO) run ./server/servertest/servicecheck

## generate: ent code, graph/ent.graphqls and gqlgen code from ent/schema and graph/*.graphqls; schema.graphql (the SDL, for client tooling) from them
generate:
	$(GO) run -mod=mod ./ent/entc.go
	$(GO) tool gqlgen generate
	@# Lists marshal in order, without a goroutine per element (graph/generated/inorder.go).
	sed -i.orig 's/graphql\.MarshalSliceConcurrently(/marshalSliceInOrder(/' graph/generated/generated.go && rm graph/generated/generated.go.orig
	@grep -q 'marshalSliceInOrder(' graph/generated/generated.go || \
		{ echo "make generate: gqlgen no longer calls graphql.MarshalSliceConcurrently; update the rewrite to graph/generated/inorder.go"; exit 1; }
	$(GO) run ./cmd/jobsphere schema > schema.graphql.tmp && mv schema.graphql.tmp schema.graphql || { rm -f schema.graphql.tmp; exit 1; }

## check-generated: fail when committed generated code differs from what `make generate` makes
check-generated: generate
	@git diff --exit-code --stat -- ent graph schema.graphql gqlgen.yml go.mod go.sum || \
		(echo "generated code is stale: run 'make generate' and commit the result" && exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- ent graph schema.graphql)" || \
		(git status --porcelain -- ent graph schema.graphql; echo "generate made new files: commit them" && exit 1)

## graphiql-assets: server/graphiql/assets (GraphiQL's and React's browser builds) from the versions server/graphiql/npm/package-lock.json pins
graphiql-assets:
	cd server/graphiql/npm && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error && node copy-assets.js

## check-graphiql-assets: fail when the committed GraphiQL assets differ from what `make graphiql-assets` makes (needs the npm registry: not part of `make test`)
check-graphiql-assets: graphiql-assets
	@git diff --exit-code --stat -- server/graphiql/assets || \
		(echo "GraphiQL's assets are stale: run 'make graphiql-assets' and commit the result" && exit 1)

## console: the operator console (web/): its operation types (from schema.graphql and client/operations) and its build in web/dist, which the binary embeds
console:
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build

## check-console: fail when the committed console (web/dist, its types) differs from what `make console` makes
check-console: console
	@git diff --exit-code --stat -- web/src/gql web/dist || \
		(echo "the console's build is stale: run 'make console' and commit web/" && exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- web/src/gql web/dist)" || \
		(git status --porcelain -- web/dist web/src/gql; echo "make console made new files: commit them" && exit 1)

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || (echo "gofmt needed:"; echo "$$out"; exit 1)
	$(GO) vet $(PKGS)

## bench: the load generator on PostgreSQL-backed servers: prints the table docs/performance.md shows (BENCH_FLAGS=-quick for a smoke run)
bench:
	$(GO) run ./cmd/jobsphere-bench $(BENCH_FLAGS)

## chaos: 4 servers on one PostgreSQL, 2,000 random operations from 50 clients, webhooks 3× shuffled, a SIGKILL every 5 s (its short form is in make test)
chaos:
	$(GO) run ./cmd/jobsphere-chaos $(CHAOS_FLAGS)
