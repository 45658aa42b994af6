# syntax=docker/dockerfile:1
# One image for every Shopflow role: `shopflow serve`, `shopflow stream ...`, `shopflow relay
# --kafka`, `shopflow notify worker`, `shopflow dagster webserver|daemon` (compose.yaml names
# each). The MLflow tracking server runs from it too (entrypoint `mlflow`).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# uv: the same version as the Makefile (UV_VERSION)
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# ---- build: the virtual environment from the same requirements.lock as `make install` ----
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1
WORKDIR /app
RUN python -m venv /app/.venv
COPY requirements.lock pyproject.toml ./
RUN uv pip install --python /app/.venv/bin/python -r requirements.lock
COPY . .
# Editable: the shipped configuration (dagster.yaml, experiments.yaml, notifications.yaml,
# warehouse/, deploy/) stays beside the packages, where shopflow.config looks for it.
RUN uv pip install --python /app/.venv/bin/python --no-deps -e .

# ---- runtime: no compiler, no uv, a non-root user ----
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 shopflow \
    && useradd --system --uid 10001 --gid shopflow --home-dir /data --no-create-home shopflow \
    && mkdir -p /data \
    && chown shopflow:shopflow /data
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SHOPFLOW_HOME=/data \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DAGSTER_DISABLE_TELEMETRY=true \
    MLFLOW_ENABLE_TELEMETRY=false \
    DO_NOT_TRACK=1
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
# The API role's readiness (database, Redis, broker, a published recommendations list);
# compose.yaml gives every other role its own check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
ENTRYPOINT ["shopflow"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
