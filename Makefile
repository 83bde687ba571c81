# The two commands a newcomer needs: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_USER ?= demo
DEMO_PASSWORD ?= demo-password-123

.PHONY: run test lint typecheck pytest install redis bench soak fuzz clean

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
	@echo "  Log in as '$(DEMO_USER)' with password '$(DEMO_PASSWORD)' (also a superuser for /admin/)."
	@echo
	DEBUG=1 $(BIN)/gunicorn config.wsgi:application --bind $(HOST):$(PORT) --workers 2 --access-logfile -

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy .

# Everything on the Redis store (tests/contract/ runs every store), then the HTTP tests of the
# session features again on the database store.
DB_STORE_TESTS := tests/test_auth_flow.py tests/test_rotation.py tests/test_sessions_api.py \
  tests/test_max_sessions.py tests/test_password_and_deactivation.py tests/test_signals.py \
  tests/test_oauth_endpoints.py tests/test_cookie_transport.py tests/test_commands.py \
  tests/test_admin.py tests/test_security.py tests/test_forged_tokens.py
pytest: install
	$(BIN)/python -m pytest
	TOKENS_TEST_STORE=db $(BIN)/python -m pytest $(DB_STORE_TESTS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles

# The browser client alone: its Node unit tests, then the Playwright tests in Chromium.
.PHONY: test-js test-browser
test-js:
	node --test --test-reporter=spec tests/js/*.test.mjs

test-browser: install
	$(BIN)/python -m pytest tests/test_js_client.py tests/test_browser.py

# Benchmarks against simplejwt + its blacklist app, written into docs/benchmarks.md (about
# 10 minutes; needs wrk and redis-server). SQLite always; PostgreSQL too when DATABASE_URL is
# given, e.g. `make bench DATABASE_URL=postgres://postgres@127.0.0.1:5432/tokens_bench`, with
# the Redis store and then with the database store (about 6 minutes more).
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
