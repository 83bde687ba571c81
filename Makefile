# The two commands a newcomer needs: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_USER ?= demo
DEMO_PASSWORD ?= demo-password-123

.PHONY: run test test-fast lint typecheck pytest install redis bench soak fuzz clean chromium matrix

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e . --group site --group test --group lint
	touch $(STAMP)

install: $(STAMP)

# With REDIS_URL set (the Redis store), start the machine's redis-server on 127.0.0.1:6379 when
# nothing answers there. Without it the site keeps its sessions in the database: no Redis needed.
redis:
	@if [ -n "$$REDIS_URL" ]; then \
	  $(BIN)/python -c "import redis,os; redis.Redis.from_url(os.environ['REDIS_URL'], socket_connect_timeout=1).ping()" 2>/dev/null \
	  || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no; \
	else echo "REDIS_URL is not set: sessions and the cache live in the database."; fi

run: install redis
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py ensure_demo_user --username $(DEMO_USER) --password $(DEMO_PASSWORD)
	@echo
	@echo "  Site:     http://$(HOST):$(PORT)/   (demo page)"
	@echo "  API docs: http://$(HOST):$(PORT)/api/docs/"
	@echo "  Vue app:  http://$(HOST):$(PORT)/vue/   (after a build: make vue)"
	@echo "  Log in as '$(DEMO_USER)' with password '$(DEMO_PASSWORD)' (also a superuser for /admin/)."
	@echo "  Access tokens live $(or $(ACCESS_TOKEN_SECONDS),3600) s."
	@if [ "$(or $(ACCESS_TOKEN_SECONDS),3600)" -gt 30 ] 2>/dev/null; then \
	  echo "  To watch a refresh before expiry, run 'make run ACCESS_TOKEN_SECONDS=30'"; \
	  echo "  and keep an eye on the demo page's log."; fi
	@echo
	DEBUG=1 DEMO_USER=$(DEMO_USER) DEMO_PASSWORD=$(DEMO_PASSWORD) $(if $(ACCESS_TOKEN_SECONDS),ACCESS_TOKEN_SECONDS=$(ACCESS_TOKEN_SECONDS)) \
	  $(BIN)/gunicorn config.wsgi:application --bind $(HOST):$(PORT) --workers 2 --access-logfile -

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy .

# Everything on the Redis store (tests/contract/ runs every store), then the HTTP tests of the
# session features again on the database store.
DB_STORE_TESTS := tests/test_auth_flow.py tests/test_rotation.py tests/test_sessions_api.py \
  tests/test_max_sessions.py tests/test_password_and_deactivation.py tests/test_signals.py \
  tests/test_oauth_endpoints.py tests/test_cookie_transport.py tests/test_commands.py \
  tests/test_admin.py tests/test_security.py
# The HTTP tests of the database-store pass, and the throttles, again on a Redis Sentinel and on
# a Redis Cluster (each started for its run by tests/settings.py: about a minute each); the
# contract suite and tests/test_failover.py cover both topologies in the first run.
TOPOLOGY_TESTS := $(DB_STORE_TESTS) tests/test_throttling.py
# The browser tests drive Debian's Chromium through Playwright (browsers are not downloaded):
# without it, stop at once and say what to install, instead of 22 errors at the end of the run.
CHROMIUM := /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "make test needs Chromium at $(CHROMIUM) for the browser tests."; \
	  echo "Install it with: sudo apt-get install chromium   (or run .ci/run, which does)"; \
	  exit 1; } >&2

# The three passes on other stores run side by side once the main run is done: each is a
# minute of mostly waiting (token lifetimes, server start-ups), and each has its own Redis,
# database and ports (tests/settings.py). One after another they added about 2.5 minutes to
# make test; together, about one. Each pass's output is shown whole when it ends.
STORE_PASSES := pytest-db pytest-sentinel pytest-cluster
.PHONY: $(STORE_PASSES)
pytest: chromium install
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory -j3 --output-sync=target $(STORE_PASSES)

pytest-db: install
	TOKENS_TEST_STORE=db $(BIN)/python -m pytest $(DB_STORE_TESTS)

pytest-sentinel: install
	TOKENS_TEST_STORE=sentinel $(BIN)/python -m pytest $(TOPOLOGY_TESTS)

pytest-cluster: install
	TOKENS_TEST_STORE=cluster $(BIN)/python -m pytest $(TOPOLOGY_TESTS)

test: chromium lint typecheck pytest

# The quick loop while working: every test that needs no gunicorn server (`live`) and no browser
# (`browser`), about a minute on 2 cores. `make test` runs them all, one at a time. Four
# pytest-xdist workers, each with its own Redis and database (tests/settings.py), a file per
# worker at a time: most of these tests wait (lifetimes, stalls, Sentinel and Cluster start-up)
# rather than compute, so four overlap their waits on two cores (one worker: about 2 minutes).
test-fast: install
	$(BIN)/python -m pytest -n 4 --dist loadfile -m "not live and not browser"

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles

# The browser client alone: its Node unit tests and its declarations under tsc, then the
# Playwright tests in Chromium.
.PHONY: test-js test-browser
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

test-js: node_modules/.package-lock.json
	node --test --test-reporter=spec tests/js/*.test.mjs
	node_modules/.bin/tsc -p tsconfig.json

# The Vue example: Vite builds examples/vue into examples/vue/dist, then the site serves it
# under /vue/ (and runs as with `make run`). `cd examples/vue && npm run dev` is the dev server.
.PHONY: vue vue-build
VUE := examples/vue
$(VUE)/node_modules/.package-lock.json: $(VUE)/package-lock.json
	cd $(VUE) && npm ci --no-audit --no-fund

vue-build: $(VUE)/node_modules/.package-lock.json
	cd $(VUE) && npm run build

vue: vue-build run

test-browser: chromium install
	$(BIN)/python -m pytest tests/test_js_client.py tests/test_browser.py tests/test_vue.py

# Benchmarks against simplejwt + its blacklist app (the anchor project beside this checkout,
# served from its own virtualenv under .bench/ and its own gunicorn), written into
# docs/benchmarks.md; needs wrk, redis-server and pip access the first time. SQLite always;
# PostgreSQL too when DATABASE_URL is given, e.g.
# `make bench DATABASE_URL=postgres://postgres@127.0.0.1:5432/tokens_bench`, with the Redis
# store and then with the database store: about 18 minutes in all on 2 cores.
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m bench.run --db sqlite $(if $(DATABASE_URL),--db $(DATABASE_URL) --db-store $(DATABASE_URL)) --write-docs $(BENCH_ARGS)

# The full soak: 300 users for 60 seconds against 3 gunicorn workers, report in docs/soak.md
# (a 10-second version runs in `make test`). Needs redis-server.
SOAK_ARGS ?=
soak: install
	$(BIN)/python -m soak --users 300 --seconds 60 --report docs/soak.md $(SOAK_ARGS)

# A long schemathesis run over every operation of /api/schema/ (random, not derandomized).
FUZZ_EXAMPLES ?= 500
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz.py --timeout 0

# The support matrix: the app's API and store tests on Django 5.2, 6.0 and 6.1 under Python
# 3.11, 3.12 and 3.13 (Django 6 needs 3.12+), one nox session each, installed from PyPI
# (noxfile.py). Needs those Pythons on PATH or under pyenv. NOX_ARGS="-s ..." runs a subset.
NOX_ARGS ?=
matrix: install
	$(BIN)/pip install -q --group matrix
	$(BIN)/nox $(NOX_ARGS)
