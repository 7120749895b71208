# Liveloop: `make up` runs everything locally; `make test` is what CI runs.
# Needs only Python 3.11+ on the machine: everything else comes from the lock file.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv up test chromium bench lint fmt lock clean screenshots

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

venv: $(STAMP) ## Create .venv and install the locked dependencies (only when they changed)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install -r requirements.lock
	$(BIN)/pip install --no-deps -e .
	@touch $@

up: venv ## Start Postgres, NATS, localstripe, the five services and the web app; seed the demo (Ctrl-C stops)
	$(BIN)/python -m devstack up

test: venv chromium ## Lint, format check, import contracts, tests (without benchmarks)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -m "not bench" --durations=20 -n 2 --dist loadfile

# The browser tests (tests/browser) drive Debian's chromium: Playwright's own browser download is not reachable.
CHROMIUM := /usr/bin/chromium
chromium: ## Make sure Debian's chromium is installed for the browser tests (apt-get as root; else say how)
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" -eq 0 ]; then \
			echo "$(CHROMIUM) is missing: installing Debian's chromium for the browser tests"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
				|| { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; \
		else \
			echo "The browser tests need Debian's chromium at $(CHROMIUM). Install it, then run make test again:" >&2; \
			echo "    sudo apt-get install -y chromium" >&2; \
			exit 1; \
		fi; \
	fi
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) is still missing after apt-get install chromium" >&2; exit 1; }

# Flash-sale benchmark sizes: `make bench S=5000 B=50000 C=512`.
S ?= 1000
B ?= 20000
C ?= 256
# Funnel ingest benchmark: events published, at this many per second (`make bench FUNNEL_RATE=5000`).
FUNNEL_EVENTS ?= 200000
FUNNEL_RATE ?= 10000
# Feed fan-out benchmark: viewers on one live instance's room feed, one run per size (`make bench FEED_VIEWERS=2000`).
FEED_VIEWERS ?= 2000 5000 10000
screenshots: venv chromium ## One screenshot per audience from a running `make up` (after the README tour) into docs/screenshots/
	$(BIN)/python -m devstack.screenshots

# Fault suite, long versions: seeds per flow and crash point, simulation seeds, soak minutes and stories per second.
CRASH_SEEDS ?= 100
SIM_SEEDS ?= 100
SOAK_MINUTES ?= 30
SOAK_RATE ?= 2
# The benchmarks' summaries (JSON), which bench.targets turns into issue 14's table at the end of `make bench`.
BENCH_OUT ?= .liveloop/bench
# A benchmark that fails goes on to the next, so that the table shows every row; `make bench` fails at the end.
bench: venv ## Load tests and the soak, the long fault suite, then the flash-sale, funnel and feed benchmarks (needs wrk)
	LIVELOOP_SOAK_MINUTES=$(SOAK_MINUTES) LIVELOOP_SOAK_RATE=$(SOAK_RATE) LIVELOOP_SIM_SEEDS=$(SIM_SEEDS) \
		$(BIN)/pytest -m bench -s || [ $$? -eq 5 ]
	LIVELOOP_CRASH_SEEDS=$(CRASH_SEEDS) LIVELOOP_CRASH_BATCH=10 \
		$(BIN)/pytest -m "not bench" -s tests/integration/faults/test_crash_points.py
	@mkdir -p $(BENCH_OUT) && rm -f $(BENCH_OUT)/failed.txt
	$(BIN)/python -m bench.flash_sale --stock $(S) --buyers $(B) --concurrency $(C) \
		--summary $(BENCH_OUT)/flash_sale.json $(BENCH_ARGS) || echo "bench.flash_sale exited $$?" >> $(BENCH_OUT)/failed.txt
	$(BIN)/python -m bench.funnel --events $(FUNNEL_EVENTS) --rate $(FUNNEL_RATE) $(FUNNEL_ARGS) \
		|| echo "bench.funnel exited $$?" >> $(BENCH_OUT)/failed.txt
	$(BIN)/python -m bench.feed $(foreach n,$(FEED_VIEWERS),--viewers $(n)) \
		--summary $(BENCH_OUT)/feed.json $(FEED_ARGS) || echo "bench.feed exited $$?" >> $(BENCH_OUT)/failed.txt
	$(BIN)/python -m bench.targets $(BENCH_OUT)/flash_sale.json $(BENCH_OUT)/feed.json
	@if [ -s $(BENCH_OUT)/failed.txt ]; then cat $(BENCH_OUT)/failed.txt >&2; exit 1; fi

lint: venv ## Lint, format check and import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

fmt: venv ## Format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Not a dependency of anything: the lock changes only when someone asks.
lock: $(BIN)/python ## Re-resolve requirements.lock from pyproject.toml
	$(BIN)/python -m pip show uv >/dev/null 2>&1 || $(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra embedded --python-version 3.11 -o requirements.lock

clean: ## Delete local stack data (.liveloop: database, streams, logs, demo ids)
	rm -rf .liveloop
