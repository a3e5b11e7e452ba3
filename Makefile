# The two commands of the README, and their parts. Each installs what it needs first.

export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: run test setup setup-run package package-windows build lint check-platforms suites agents ui-test contract test-windows test-wayland interference bench bench-quick torture fuzz

## Build Baton and start it: the tray app where there is a display, else the headless host.
## Installs only what building and running need (scripts/setup.sh run).
run: setup-run
	$(CARGO) build --release -p baton-cli -p baton-tray
	@if [ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then \
		exec ./target/release/baton-tray; \
	else \
		echo "make run: no display here (DISPLAY is not set), so Baton runs headless: baton daemon"; \
		exec ./target/release/baton daemon; \
	fi

## Install what the tests need, then run every suite (style, lints for Linux, Windows and
## macOS, unit, property, HTTP, end-to-end tests with real processes, Baton on a headless
## GNOME Shell and a headless KWin on Wayland, and the Windows build under Wine).
test: setup lint check-platforms suites ui-test contract test-wayland test-windows

setup:
	@./scripts/setup.sh

setup-run:
	@./scripts/setup.sh run

## The Debian package (the tray app, the baton CLI, the menu entry with the app id the Wayland
## portals know, the icon, the GNOME Shell extension) in target/debian/, built with cargo-deb, and
## an RPM of the same files in target/rpm/ (cargo-generate-rpm; checked, not installed: see
## scripts/package/rpm.sh). DEB_VERSION=… gives the Debian package another version (CI's upgrade check).
package:
	@./scripts/setup.sh package
	$(CARGO) build --release -p baton-cli -p baton-tray
	cargo deb -p baton-tray --no-build --output target/debian/ $(if $(DEB_VERSION),--deb-version $(DEB_VERSION))
	@# The RPM of the same files (cargo-generate-rpm), from stripped copies of the programs.
	mkdir -p target/rpm/bin
	strip -o target/rpm/bin/baton target/release/baton
	strip -o target/rpm/bin/baton-tray target/release/baton-tray
	cargo generate-rpm -p src-tauri --output target/rpm/

## The Windows installer (baton.exe on PATH, baton-tray.exe with a Start-menu entry, an
## uninstaller that keeps the data) in target/windows/, built with mingw-w64 and wixl.
package-windows:
	@./scripts/setup.sh package-windows
	$(CARGO) build --release --target x86_64-pc-windows-gnu -p baton-cli -p baton-tray
	./scripts/package/msi.sh target/x86_64-pc-windows-gnu/release target/windows

build: setup
	$(CARGO) build --workspace

lint:
	python3 scripts/tidy.py
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@# The typed client on its own: the data directory without any display library.
	$(CARGO) clippy -p baton-client -p baton-platform -- -D warnings

## clippy -D warnings for Windows (mingw-w64) and macOS (zig): type-checking, nothing run.
check-platforms:
	./scripts/check-platforms.sh

## The real baton on headless GNOME Shell and KWin, Wayland only: input through the portal and libei.
test-wayland:
	./scripts/test-wayland.sh

## baton.exe and baton-tray.exe for Windows, and the Windows suite under Wine.
test-windows:
	./scripts/test-windows.sh

suites: agents
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

## The real Claude Code and Codex CLIs, for the test of the README's recipes (tests/it/agents.rs).
agents:
	cd crates/cli/tests/agents && npm ci --no-audit --no-fund --loglevel=error

## The windows (ui/) in headless Chromium with a fake IPC.
ui-test:
	cd ui/tests && npm ci --no-audit --no-fund && npm test

## The API's contract: schemathesis (PyPI) against a real host, every check on, from the host's
## own /v1/openapi.json; any finding fails (scripts/contract.sh).
contract:
	$(CARGO) build --workspace --bins
	./scripts/contract.sh target/debug/baton

## The interference test at length: 8 agents typing at once, 1000 rounds (about 35 minutes).
interference: setup
	BATON_INTERFERENCE_ROUNDS=1000 $(CARGO) test -p baton-cli --test it interference:: -- --nocapture

## Baton side by side with Redis, etcd and flock (bench/; figures in BENCHMARKS.md): 10 s per
## measurement, 60 s of idle and the tray app's memory, about 7 minutes once built.
## bench-quick: 2 s each and 10 s of idle, under 3 minutes once built.
bench:
	@./scripts/setup.sh bench
	$(CARGO) build --release -p baton-cli -p baton-bench -p baton-tray
	./target/release/baton-bench
	./bench/tray-memory.sh target/release/baton-tray

bench-quick:
	@./scripts/setup.sh bench
	$(CARGO) build --release -p baton-cli -p baton-bench
	./target/release/baton-bench --seconds 2 --idle 10

## The torture tests at length: 200 rounds of kill -9 under load and a 10-minute soak under a
## live invariant checker (make test runs 20 rounds and 15 s).
torture: setup
	BATON_TORTURE_ROUNDS=200 BATON_SOAK_SECONDS=600 $(CARGO) test -p baton-cli --test it torture:: -- --nocapture --test-threads 1

## Fuzzing (cargo-fuzz, nightly): the core's transitions, the API's request decoding and input
## validation,
## FUZZ_SECONDS each (default 300).
FUZZ_SECONDS ?= 300
fuzz: setup
	rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && $(CARGO) +nightly fuzz run transitions -O -- -max_total_time=$(FUZZ_SECONDS)
	cd fuzz && $(CARGO) +nightly fuzz run requests -O -- -max_total_time=$(FUZZ_SECONDS)
	cd fuzz && $(CARGO) +nightly fuzz run input -O -- -max_total_time=$(FUZZ_SECONDS)
