# The Makefile is the interface: a person and CI run the same targets.
GO ?= go
DEVSTACK = $(GO) run ./infra/cmd/devstack

.PHONY: run test test-unit test-integration lint bench check-emulators check-ready

## run: emulators, topic and subscriptions, the three services; Ctrl-C stops all
run:
	$(DEVSTACK) run

## test: unit tests, then integration and end-to-end tests on fresh emulators
test: test-unit test-integration

test-unit:
	$(GO) vet ./...
	$(GO) test -short -count=1 ./...

test-integration: check-emulators
	$(DEVSTACK) emulators -- $(GO) test -count=1 -p 1 -timeout 20m ./...

check-emulators:
	@sdk=$$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null) || { \
	  echo "make test: gcloud not found; install the Google Cloud CLI with the pubsub and firestore emulators" >&2; exit 1; }; \
	for f in "$$sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator" "$$sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator"; do \
	  [ -x "$$f" ] || { echo "make test: emulator missing: $$f (install google-cloud-cli-pubsub-emulator and google-cloud-cli-firestore-emulator)" >&2; exit 1; }; \
	done; \
	command -v java >/dev/null || { echo "make test: java not found; the emulators need a JRE (17+)" >&2; exit 1; }

## check-ready: 20 fresh `make run` stacks, each sent an order the moment it is healthy
check-ready: check-emulators
	$(DEVSTACK) emulators -- $(GO) test -count=1 -run TestMakeRunIsReadyWhenHealthy -timeout 30m ./e2e -ready-runs=20

lint:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...

## bench: a fresh stack on free ports, measured (BENCH_DURATION per throughput phase, default 10s)
bench: check-emulators
	$(GO) build -o bin/bench ./infra/cmd/bench
	$(DEVSTACK) bench -- bin/bench

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
