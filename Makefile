# Tern: the two commands of the quick start are `make run` and `make test`.
SWIFT ?= swift
TSAN_BUILD ?= .build-tsan

.PHONY: run test test-unit test-async-client test-tsan soak build release deps clean-state

## Run the daemon with embedded defaults (state in ./ternd-state, loopback only).
run: deps
	$(SWIFT) build --product ternd
	$(SWIFT) build --product tern
	"$$($(SWIFT) build --show-bin-path)/ternd" $(ARGS)

## Everything CI runs: build, all tests against real daemons (Swift and the Python client), the
## unit files, each fuzz target for 20 s, the data plane under Thread Sanitizer.
test: deps
	scripts/install-deps.sh test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip AsyncClientTests
	$(MAKE) test-async-client
	TERND_BIN="$$($(SWIFT) build --show-bin-path)/ternd" scripts/test-python.sh
	CHECK_UNITS_TERND="$$($(SWIFT) build --show-bin-path)/ternd" $(MAKE) check-units
	$(MAKE) fuzz-ci
	$(MAKE) test-tsan

## The async client's tests on their own: the other end-to-end tests are synchronous and, run
## beside them, occupy Swift's cooperative thread pool (one thread per core) for seconds at a
## time, which would delay the client's tasks past the server's handshake timeout.
test-async-client:
	$(SWIFT) test --skip-build --filter AsyncClientTests

## Thread Sanitizer: the broadcast ring and broker core, and the data plane end to end against
## the ternd of the same TSan build (shared-memory readers included:
## DataPlaneSanitizerTests+SharedMemory.swift) (TERN_EXPECT_TSAN=1: the suite checks ternd is instrumented;
## any ThreadSanitizer report in ternd's log, or its exit status 66, fails it).
test-tsan:
	$(SWIFT) build --build-tests --scratch-path $(TSAN_BUILD) --sanitize=thread
	TERN_EXPECT_TSAN=1 $(SWIFT) test --scratch-path $(TSAN_BUILD) --sanitize=thread \
		--filter "TernCoreTests|DataPlaneSanitizerTests"

## The larger soak: 10,000 data-port connections for 10 minutes (TERN_SOAK_SECONDS,
## TERN_SOAK_CONNECTIONS and TERN_SOAK_POLL_THREADS override); `make test` runs the CI size.
soak:
	$(SWIFT) build --build-tests
	TERN_SOAK_SECONDS=$${TERN_SOAK_SECONDS:-600} TERN_SOAK_CONNECTIONS=$${TERN_SOAK_CONNECTIONS:-10000} \
		$(SWIFT) test --skip-build --filter SoakTests

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

deps:
	@scripts/install-deps.sh build

clean-state:
	rm -rf ternd-state

# ---- systemd: install, uninstall, unit checks -------------------------------------------
# `make install` (as root): release-builds ternd and tern, installs them to $(PREFIX)/bin, the
# units (ExecStart= pointed at $(PREFIX)/bin/ternd) and, if absent, /etc/default/ternd.
# Packagers: `make install DESTDIR=/tmp/pkg` puts units in $(DESTDIR)/lib/systemd/system and
# never talks to systemd. Upgrade: `make install && systemctl restart ternd` (sockets stay open).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= $(if $(DESTDIR),/lib/systemd/system,/etc/systemd/system)
ENVFILE ?= /etc/default/ternd
SYSTEMD_UNITS = ternd.service ternd-data.socket ternd-data-unix.socket ternd-control.socket
SYSTEMD_RUNNING = $(if $(DESTDIR),,$(wildcard /run/systemd/system))

.PHONY: install uninstall check-units

install: deps
	$(SWIFT) build -c release --product ternd
	$(SWIFT) build -c release --product tern
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(dir $(ENVFILE))
	install -m 0755 "$$($(SWIFT) build -c release --show-bin-path)/ternd" $(DESTDIR)$(BINDIR)/ternd
	install -m 0755 "$$($(SWIFT) build -c release --show-bin-path)/tern" $(DESTDIR)$(BINDIR)/tern
	for unit in $(SYSTEMD_UNITS); do install -m 0644 systemd/$$unit $(DESTDIR)$(UNITDIR)/$$unit; done
	sed -i 's|^ExecStart=/usr/local/bin/ternd|ExecStart=$(BINDIR)/ternd|; s|/etc/default/ternd|$(ENVFILE)|g' \
		$(DESTDIR)$(UNITDIR)/ternd.service
	if [ -e $(DESTDIR)$(ENVFILE) ]; then echo "kept existing $(DESTDIR)$(ENVFILE)"; \
		else install -m 0644 systemd/ternd.env $(DESTDIR)$(ENVFILE); fi
	@if [ -n "$(SYSTEMD_RUNNING)" ]; then systemctl daemon-reload; \
		echo "start: systemctl enable --now ternd-data.socket ternd-data-unix.socket ternd-control.socket ternd.service"; \
		echo "upgrade of a running ternd: systemctl restart ternd.service"; fi

## Removes what `install` put in place. Keeps the state (/var/lib/ternd) and an edited
## /etc/default/ternd.
uninstall:
	@if [ -n "$(SYSTEMD_RUNNING)" ]; then systemctl disable --now $(SYSTEMD_UNITS) || true; fi
	rm -f $(DESTDIR)$(BINDIR)/ternd $(DESTDIR)$(BINDIR)/tern
	for unit in $(SYSTEMD_UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$unit; done
	if cmp -s systemd/ternd.env $(DESTDIR)$(ENVFILE); then rm -f $(DESTDIR)$(ENVFILE); \
		elif [ -e $(DESTDIR)$(ENVFILE) ]; then echo "kept edited $(DESTDIR)$(ENVFILE)"; fi
	@if [ -n "$(SYSTEMD_RUNNING)" ]; then systemctl daemon-reload; fi

## systemd-analyze verify (any stderr fails) and security (exposure <= 2.0) on systemd/*.
## CHECK_UNITS_TERND=path/to/ternd also checks systemd/ternd.env against `ternd --help`.
check-units:
	systemd/check-units.sh $(CHECK_UNITS_TERND)

# ---- Python client (clients/python) ------------------------------------------------------
# ruff, mypy --strict and pytest against real ternd processes; uses the debug build's ternd
# unless TERND_BIN is set.
.PHONY: test-python
test-python:
	$(SWIFT) build --product ternd
	TERND_BIN="$${TERND_BIN:-$$($(SWIFT) build --show-bin-path)/ternd}" scripts/test-python.sh

# ---- fuzzing: libFuzzer targets of Fuzz/ (Fuzz/README.md) ----------------------------------------
# `make fuzz` runs each target for FUZZ_SECONDS (FUZZ_TARGETS: some of frames json forms session);
# `make fuzz-ci` runs each for 20 s. Both replay Fuzz/Regressions first and fail on any crash.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= frames json forms session

.PHONY: fuzz fuzz-ci fuzz-corpus

fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci:
	scripts/fuzz.sh 20 frames json forms session

## Regenerates Fuzz/Corpus/*/seed-* and Fuzz/Dictionaries from protocol.md's test vectors.
fuzz-corpus:
	python3 Fuzz/make-corpus.py

# ---- formatting: swift-format with .swift-format (swift-nio's settings) --------------------
.PHONY: format lint
# Tern's own Swift files: the packages' sources and tests, the fuzz harnesses (their links to the
# main sources are formatted there), the manifests.
SWIFT_SOURCES = Sources Tests Package.swift Benchmarks/Package.swift Benchmarks/Sources Benchmarks/Tests \
	Benchmarks/Benchmarks Fuzz/Package.swift $(wildcard Fuzz/Sources/Fuzz*/Fuzz*.swift) \
	Fuzz/Sources/FuzzSession/SessionRun.swift Fuzz/Sources/FuzzSession/ServerTranscript.swift \
	Fuzz/Sources/FuzzForms/ControlErrorStandIn.swift

format:
	swift format format --in-place --parallel --recursive $(SWIFT_SOURCES)

## Fails on any formatting difference (CI runs it).
lint:
	swift format lint --strict --parallel --recursive $(SWIFT_SOURCES)

# ---- what CI checks beyond `make test` ---------------------------------------------------
## A release build of every product, and the Benchmarks package (load generator and
## micro-benchmarks) built with its tests run, so neither can rot unseen.
.PHONY: ci-builds
ci-builds:
	$(SWIFT) build -c release
	$(SWIFT) build --package-path Benchmarks --build-tests
	TERND_BIN="$$($(SWIFT) build --show-bin-path)/ternd" $(SWIFT) test --package-path Benchmarks --skip-build
