# The two commands of the README, and their parts. Each installs what it needs first.

export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: run test setup build lint unit-test

## Build Baton and start it (the headless host, `baton daemon`, in the foreground).
run: setup
	$(CARGO) build --release -p baton-cli
	./target/release/baton daemon

## Install what the tests need, then run every suite (style, lints, unit, property,
## HTTP, and end-to-end tests with real processes).
test: setup lint unit-test

setup:
	@./scripts/setup.sh

build: setup
	$(CARGO) build --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit-test:
	$(CARGO) test --workspace
