# Tern: the two commands of the quick start are `make run` and `make test`.
SWIFT ?= swift
TSAN_BUILD ?= .build-tsan

.PHONY: run test test-unit test-tsan build release deps clean-state

## Run the daemon with embedded defaults (state in ./ternd-state, loopback only).
run: deps
	$(SWIFT) build --product ternd
	$(SWIFT) run ternd $(ARGS)

## Everything CI runs: build, all tests against real daemons, ring stress under Thread Sanitizer.
test: deps
	scripts/install-deps.sh test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(MAKE) test-tsan

## The broadcast ring and broker core under Thread Sanitizer.
test-tsan:
	$(SWIFT) test --scratch-path $(TSAN_BUILD) --sanitize=thread --filter TernCoreTests

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

deps:
	@scripts/install-deps.sh build

clean-state:
	rm -rf ternd-state
