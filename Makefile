# The Makefile is the interface: a person and CI run the same targets.
GO ?= go
DEVSTACK = $(GO) run ./tools/cmd/devstack

.PHONY: run tools browser check-browser test test-unit test-integration fuzz lint bench bench-flashsale bench-sustained bench-shards bench-plot build-bench check-emulators check-ready check-model

## run: emulators, topic and subscriptions, the three services; Ctrl-C stops all
run: tools
	$(DEVSTACK) run

## tools: the pinned firebase-tools (the Auth emulator) in tools/firebase, cached per machine
tools:
	@bash tools/install-firebase.sh

## browser: Debian's chromium-headless-shell, which the browser tests drive (needs root or sudo)
browser:
	@command -v chromium-headless-shell >/dev/null || { \
	  echo "installing Debian's chromium-headless-shell for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium-headless-shell; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium-headless-shell; fi; }

check-browser:
	@[ -n "$$CHROMIUM" ] || command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || { \
	  echo "make test: Chromium not found; the browser tests drive a real one: run make browser (Debian's chromium-headless-shell) or set CHROMIUM" >&2; exit 1; }

## test: the linter, unit tests, a short fuzz of every decoder, then integration and end-to-end tests on fresh emulators
test: lint test-unit fuzz test-integration

# The local stack's build tag (devstack builds the services with it): the
# fault switch, the telemetry pause and ticket-service's naive stock
# design, none of them in a production build (docs/operations.md).
# LOCALSTACK_PKGS: the
# packages with files of that build, whose tests run again with the tag.
LOCALSTACK = localstack
LOCALSTACK_PKGS = $(sort $(dir $(shell grep -rl --include='*.go' '^//go:build $(LOCALSTACK)$$' .)))

test-unit:
	$(GO) vet ./...
	$(GO) vet -tags $(LOCALSTACK) ./...
	$(GO) test -short -count=1 ./...
	$(GO) test -short -count=1 -tags $(LOCALSTACK) $(LOCALSTACK_PKGS)

# The fuzz targets: the decoders of everything that comes from outside.
FUZZ_TARGETS = shared/platform/httpjson:FuzzDecodeBytes shared/event:FuzzDecode shared/push:FuzzDecode \
	order-service/internal/httpapi:FuzzDecodeOrderRequest
FUZZTIME ?= 60000x

## fuzz: each fuzz target for FUZZTIME (make test: 60000 inputs each, 3-9 s; FUZZTIME=5000000x for a real run).
## A count, not a duration: Go 1.26's fuzz coordinator can fail a clean run with "context deadline
## exceeded" when a duration ends mid-input (golang/go#75804, fixed in Go 1.27).
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$fn in ./$$pkg for $(FUZZTIME)"; \
	  out=$$($(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) ./$$pkg 2>&1); rc=$$?; \
	  echo "$$out" | grep -v '^fuzz: elapsed' | tail -20; \
	  echo "$$out" | grep '^fuzz: elapsed' | tail -1; \
	  [ $$rc -eq 0 ] || exit $$rc; \
	done

# The model check needs no emulator: test-unit runs it, so it is left out here.
# Test artifacts (the browser tests' screenshots) land in test-output/.
test-integration: check-emulators check-browser tools
	@mkdir -p test-output
	$(DEVSTACK) emulators -- $(GO) test -count=1 -p 1 -timeout 20m -artifacts -outputdir=$(CURDIR)/test-output $$($(GO) list ./... | grep -v /modelcheck)

## check-model: the protocol model at depth deep (every path with more faults; make test runs depth quick)
check-model:
	$(GO) test -count=1 -timeout 3h -run 'TestModel|TestNoRuleIsRepeated' -v ./modelcheck -model-depth=deep

check-emulators:
	@sdk=$$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null) || { \
	  echo "make test: gcloud not found; install the Google Cloud CLI with the pubsub and firestore emulators" >&2; exit 1; }; \
	for f in "$$sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator" "$$sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator"; do \
	  [ -x "$$f" ] || { echo "make test: emulator missing: $$f (install google-cloud-cli-pubsub-emulator and google-cloud-cli-firestore-emulator)" >&2; exit 1; }; \
	done; \
	command -v java >/dev/null || { echo "make test: java not found; the emulators need a JRE (17+)" >&2; exit 1; }; \
	command -v node >/dev/null || { echo "make test: node not found; the Firebase Auth emulator needs Node.js 20+" >&2; exit 1; }

## check-ready: 20 fresh `make run` stacks, each sent an order the moment it is healthy
check-ready: check-emulators tools
	$(DEVSTACK) emulators -- $(GO) test -count=1 -run TestMakeRunIsReadyWhenHealthy -timeout 30m ./e2e -ready-runs=20

## lint: golangci-lint (a tool dependency in go.mod), with the import rules of .golangci.yml: the
## production build, then the local stack's files (tag localstack)
lint:
	$(GO) tool golangci-lint run ./...
	$(GO) tool golangci-lint run --build-tags $(LOCALSTACK) $(LOCALSTACK_PKGS)

## bench: a fresh stack on free ports, measured (BENCH_DURATION per throughput phase, default 10s); then
## the cost of tracing and metrics on another stack that traces every saga (OTLP, to a local sink that
## drops it): concurrency 32 with both paused and recording, interleaved
bench: check-emulators tools
	$(GO) build -o bin/bench ./tools/cmd/bench
	$(DEVSTACK) bench -- bin/bench
	BENCH_MODE=telemetry BENCH_OTLP_SINK=1 TRACE_EXPORTER=otlp TRACE_SAMPLE_RATIO=1 METRICS_EXPORTER=otlp METRICS_INTERVAL=10s PPROF=1 \
	  $(DEVSTACK) bench -- bin/bench

## The on-sale simulations (docs/capacity.md): production's rates scaled by SIMULATED_SCALE, Firestore's limits
## per document and per sequential index range enforced by the stack's relay (tools/fslimits), two instances of
## order- and ticket-service. BENCH_LABEL names the results (bench-results/<mode>-<label>.json); bench-plot draws
## them all in docs/onsale.png.
## bench-flashsale: 100,000 tickets of one type in 60 s on 3,334 shards (one a shard); scale 0.012 (20 orders/s), ~6 minutes
## bench-sustained: 1,000 orders/s for 60 s; scale 0.02 (20 orders/s), ~4 minutes
## bench-shards: one grant's cost and GET /tickets/{id}'s latency at 16 and 4,096 shards, interleaved, 3 rounds
FLASH_SCALE ?= 0.012
SUSTAINED_SCALE ?= 0.02
BENCH_LABEL ?= now
bench-flashsale bench-sustained bench-shards: check-emulators tools build-bench
build-bench:
	$(GO) build -o bin/bench ./tools/cmd/bench
bench-flashsale:
	BENCH_MODE=flashsale BENCH_LABEL=$(BENCH_LABEL) SIMULATED_SCALE=$(FLASH_SCALE) BENCH_INSTANCES=2 $(DEVSTACK) bench -- bin/bench
bench-sustained:
	BENCH_MODE=sustained BENCH_LABEL=$(BENCH_LABEL) SIMULATED_SCALE=$(SUSTAINED_SCALE) BENCH_INSTANCES=2 $(DEVSTACK) bench -- bin/bench
bench-shards:
	BENCH_MODE=shards $(DEVSTACK) bench -- bin/bench
bench-plot:
	$(GO) run ./tools/cmd/bench plot

## deploy: everything, to PROJECT_ID in REGION (DRY_RUN=1 prints the gcloud commands only)
DEPLOY = $(GO) run ./infra/cmd/deploy
.PHONY: deploy deploy-pubsub destroy
deploy:
	PROJECT_ID=$(PROJECT_ID) REGION=$(REGION) $(DEPLOY) all

## deploy-pubsub: the topics and subscriptions alone
deploy-pubsub:
	PROJECT_ID=$(PROJECT_ID) REGION=$(REGION) $(DEPLOY) pubsub

## destroy: remove the saga (CONFIRM=PROJECT_ID); Firestore data is kept
destroy:
	PROJECT_ID=$(PROJECT_ID) REGION=$(REGION) $(DEPLOY) destroy
