# ÉLIER catalogue. `make` lists the targets.
#
# DATABASE_URL from the environment wins; without it, targets that need a
# database start the project's private PostgreSQL (scripts/pg.sh, data in .pg/).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PRODUCTS ?= 10000
SEED     ?= 1
DATA     ?= ./data
ADDR     ?= :3000
BIN      := bin
GOFLAGS_TEST ?= -race -count=1 -timeout 20m

# with_db runs its argument with DATABASE_URL set, starting the private
# cluster when none is given.
with_db = export DATABASE_URL="$${DATABASE_URL:-$$(scripts/pg.sh start)}"; $(1)

.PHONY: help
help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build elier-etl and elier-api into bin/
	go build -o $(BIN)/elier-etl ./cmd/etl
	go build -o $(BIN)/elier-api ./cmd/api

# run loads ./data as it is (--max-shrink 1): the shrink guard protects
# scheduled production loads, not a developer switching to a smaller export.
.PHONY: run
run: build ## private Postgres, sample export in ./data if empty (PRODUCTS=10000), load, serve on :3000
	@$(call with_db, \
	  if ! ls $(DATA)/*.csv >/dev/null 2>&1; then $(BIN)/elier-etl generate --products $(PRODUCTS) --seed $(SEED) $(DATA); fi; \
	  $(BIN)/elier-etl load --if-changed --max-shrink 1 $(DATA); \
	  mkdir -p .run; echo $$$$ > .run/api.pid; exec $(BIN)/elier-api --addr $(ADDR))

# internal/testsum prints what plain go test prints (the packages' lines, the
# failed and skipped tests' output), then "N passed, N failed, N skipped";
# with CI set, a skipped test fails the target.
.PHONY: test
test: ## run every test (go test -race) against the private Postgres; counts passed/failed/skipped
	@go build -o $(BIN)/testsum ./internal/testsum
	@$(call with_db, go test -json $(GOFLAGS_TEST) ./... | $(BIN)/testsum)

.PHONY: lint
lint: ## go vet, gofmt check, staticcheck, the API binary not linking the write side
	go vet ./...
	@if go list -deps ./cmd/api | grep -E 'elier/catalogue/pkg/(loader|build|generate)$$'; then \
	  echo "cmd/api links the write side (above)"; exit 1; fi
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go tool staticcheck ./...

.PHONY: generate
generate: build ## write a synthetic export to ./data (PRODUCTS=10000 SEED=1)
	$(BIN)/elier-etl generate --products $(PRODUCTS) --seed $(SEED) $(DATA)

.PHONY: load
load: build ## load ./data into the database
	@$(call with_db, $(BIN)/elier-etl load $(DATA))

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for t in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed 's/func //' | sort -u); do \
	  pkg=$$(grep -rlE "^func $$t\(" --include='*_test.go' . | head -1 | xargs dirname); \
	  echo "== $$t ($$pkg)"; go test -run '^$$' -fuzz "^$$t$$" -fuzztime $${FUZZTIME:-30s} $$pkg; done

.PHONY: stop
stop: ## stop what `make run` started and the private Postgres
	@if [ -f .run/api.pid ]; then kill $$(cat .run/api.pid) 2>/dev/null || true; rm -f .run/api.pid; fi
	@scripts/pg.sh stop

.PHONY: clean
clean: stop ## stop everything and remove bin/, .pg/, .pg-stock/ (bench-etl's stock server) and .run/
	rm -rf $(BIN) .pg .pg-stock .run

# Each benchmark writes its own section of docs/BENCHMARKS.md (between
# BEGIN/END markers; the hand-written analysis is never touched). Knobs are
# environment variables, documented at the top of each script; defaults are
# full scale (1,000,011 products), so try small first: BENCH_PRODUCTS=20000.
.PHONY: bench-etl
bench-etl: build ## loader vs raw-COPY floor in rounds, project and stock PostgreSQL (BENCH_PRODUCTS=1000011)
	@$(call with_db, scripts/bench-section.sh bench-etl scripts/bench-etl.sh)

.PHONY: bench-api
bench-api: build ## elier-api vs a bare fasthttp ceiling sending the route's real body size: wrk, bench/rate
	@$(call with_db, scripts/bench-section.sh bench-api scripts/bench-api.sh)

.PHONY: bench-rebuild
bench-rebuild: build ## per-second throughput and cache hit ratio across full and incremental rebuilds (100k)
	@$(call with_db, scripts/bench-section.sh bench-rebuild scripts/bench-rebuild.sh)

.PHONY: bench-cart
bench-cart: build ## the cart's targets beside /products/:id/styles: POST/GET /cart, 2,000 req/s open loop, commit_delay (BENCH_CART_PRODUCTS=100000)
	@$(call with_db, scripts/bench-section.sh bench-cart scripts/bench-cart.sh)

.PHONY: bench-memory
bench-memory: build ## the whole catalogue in the API's memory at 1M: prefill, RSS, p99 with the page cache dropped and after swaps
	@$(call with_db, scripts/bench-section.sh bench-memory scripts/bench-memory.sh)

.PHONY: bench-build-ab
bench-build-ab: build ## two elier-etl binaries' full and incremental builds side by side (BENCH_AB_OLD=path, BENCH_AB_NEW=bin/elier-etl, BENCH_AB_SECTION=name)
	@$(call with_db, scripts/bench-section.sh $${BENCH_AB_SECTION:-bench-build-ab} scripts/bench-build-ab.sh)

.PHONY: bench
bench: build ## every benchmark above but bench-build-ab (and bench-cart.sh when present), written to docs/BENCHMARKS.md
	@$(call with_db, scripts/bench.sh)

# The scaled-out cluster on 127.0.0.1 (docs/DEPLOY.md): one etcd, two
# PostgreSQL members under Patroni (automatic failover), two elier-api
# instances and nginx, in .cluster/. Ports and settings: deploy/cluster.env,
# overridable as variables (NGINX_PORT=3190). Needs Debian's patroni,
# etcd-server and python3-etcd (installed when missing, as root).
.PHONY: cluster-up
cluster-up: ## etcd + 2 Patroni members + 2 APIs + nginx on 127.0.0.1:3180, sample export loaded
	@scripts/cluster.sh up

.PHONY: cluster-down
cluster-down: ## stop what cluster-up started (the data stays in .cluster/)
	@scripts/cluster.sh down

.PHONY: cluster-test
cluster-test: ## cluster scenarios: rebuild, API killed, standby stopped, lag, leader killed, load cut, switchover, etcd lost
	@scripts/cluster.sh test

.PHONY: cluster-test-doc
cluster-test-doc: ## cluster-test, its summary written into docs/DEPLOY.md (section cluster-test)
	@BENCH_DOC=docs/DEPLOY.md scripts/bench-section.sh cluster-test scripts/cluster-test-section.sh

# The fault suite runs the real programs against a PostgreSQL cluster of its
# own (.faults/pg on port FAULTS_PGPORT, 25435 by default), which it starts,
# restarts and stops; the developers' cluster and DATABASE_URL are never touched.
FAULTS_PGPORT ?= 25435
FAULTS_PG    := ELIER_PGDIR=$(CURDIR)/.faults/pg ELIER_PGPORT=$(FAULTS_PGPORT)
FAULTS_FLAGS ?= -faults.pgport=$(FAULTS_PGPORT)

.PHONY: faults
faults: build ## fault, load and bad-input suite on the real programs, soak included (about 13 min)
	go test -tags faults -c -o .faults/faults.test ./faults
	@status=0; .faults/faults.test -test.timeout 60m $(FAULTS_FLAGS) || status=$$?; \
	  $(FAULTS_PG) scripts/pg.sh stop; exit $$status

.PHONY: faults-short
faults-short: build ## the fault suite's short form, no soak (CI; under 2 min)
	go vet -tags faults ./faults
	go test -tags faults -c -o .faults/faults.test ./faults
	@status=0; .faults/faults.test -test.short -test.timeout 10m $(FAULTS_FLAGS) || status=$$?; \
	  $(FAULTS_PG) scripts/pg.sh stop; exit $$status
