# Shopflow: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
ARGS ?=
CHROMIUM ?= /usr/bin/chromium
JAVA ?= /usr/bin/java
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_DISABLE_TELEMETRY := true
export MLFLOW_ENABLE_TELEMETRY := false
export DO_NOT_TRACK := 1

.PHONY: install demo test bench lint format lock dashboard clean java

$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --python $(PY) --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: install
	$(VENV)/bin/shopflow demo $(ARGS)

test: install $(CHROMIUM) $(JAVA)
	$(VENV)/bin/python -m pytest $(ARGS)

# Headless Chromium for the dashboard browser test (Debian's package; playwright can't download).
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

# Java for Spark (the warehouse on dbt-spark, ALS on MLlib): Debian's headless JRE.
$(JAVA):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless

java: $(JAVA)

bench: install $(JAVA)
	$(PY) -m benchmarks $(ARGS)

dashboard: install
	$(VENV)/bin/shopflow dashboard $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .

lock: install
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11

clean:
	rm -rf $(VENV) data
