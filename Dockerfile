# The service's image: the steps of `make setup` (uv from PyPI, then `uv sync --locked`, here
# without the dev group) and of `make run` (`python -m server`), nothing else. No container engine
# runs where this file is written: every step is one the test suite runs, and `make lint` checks
# the file with hadolint. README.md, "Running in containers", says how to run it.
#
#   docker build -t wa-sales-agent .
#   docker run --env-file .env -e HOST=0.0.0.0 -p 8000:8000 wa-sales-agent     # web process
#   docker run --env-file .env wa-sales-agent python -m pipeline.worker        # worker process

FROM python:3.11-slim-bookworm AS build
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install uv==0.13.9
WORKDIR /app
# The dependencies first: a change of the code alone rebuilds only the last layer.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev
COPY . .

FROM python:3.11-slim-bookworm
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid 10001 --create-home app
WORKDIR /app
# The virtualenv keeps its absolute paths: same base image, same /app, same interpreter.
COPY --from=build --chown=10001:10001 /app /app
USER 10001:10001
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/app/var
EXPOSE 8000
# The process is alive (GET /healthz); readiness (Redis and Postgres reachable) is /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=4)"]
CMD ["python", "-m", "server"]
