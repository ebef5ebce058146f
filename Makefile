# The user interface of the project. `make run` and `make test` do all set-up on a machine that has
# only Python 3.11+ and make: uv is installed with pip when absent, then `uv sync` builds .venv.

PYTHON ?= python3
# uv on PATH, else the copy pip installed (`python3 -m uv` works wherever pip put it).
UV = $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= $(shell $(PYTHON) -c 'import sys; print(sys.executable)')

.PHONY: help setup run test worker migrate user chat bench eval lint clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet uv
	$(UV) sync --locked
	@touch $@

setup: .venv/.synced ## Install uv (if absent) and the locked dependencies into .venv.

run: setup ## Serve the app on http://127.0.0.1:8000 (embedded Redis/Postgres unless URLs are set).
	@echo "Console: http://$${HOST:-127.0.0.1}:$${PORT:-8000}/console (first user: make user EMAIL=you@example.com ROLE=admin)"
	ALLOW_UNSIGNED_WEBHOOKS=$${ALLOW_UNSIGNED_WEBHOOKS:-true} $(UV) run --locked python -m server

test: setup ## Run the whole test suite.
	$(UV) run --locked pytest $(PYTEST_ARGS)

migrate: setup ## Apply pending database migrations.
	$(UV) run --locked python -m core.migrate

user: setup ## Create or reset a console user: make user EMAIL=ana@example.com ROLE=admin [NAME="Ana"].
	@test -n "$(EMAIL)" || { echo "usage: make user EMAIL=ana@example.com ROLE=admin|agent [NAME=...]"; exit 2; }
	@$(UV) run --locked python -m console.cli user --email "$(EMAIL)" --role "$(or $(ROLE),agent)" --name "$(NAME)"

lint: setup ## ruff, mypy, the import layers (lint-imports) and hadolint on the Dockerfile.
	$(UV) run --locked ruff check .
	$(UV) run --locked mypy .
	$(UV) run --locked lint-imports --no-cache
	$(UV) run --locked hadolint Dockerfile

clean: ## Remove the virtualenv and caches (keeps ./var, the embedded data).
	rm -rf .venv .pytest_cache .ruff_cache .mypy_cache

worker: setup ## Run burst workers as a separate process (set WORKERS_IN_PROCESS=false on the web process).
	$(UV) run --locked python -m pipeline.worker

chat: setup ## Chat with the agent in the terminal, as a WhatsApp contact would (/state, /reset).
	$(UV) run --locked python -m graph.chat

eval: setup ## Run the scripted conversations of evals/ and print the scorecard.
	$(UV) run --locked python -m evals

bench: setup ## Run the benchmarks under bench/ and print their figures.
	@set -e; for f in bench/bench_*.py; do \
		echo "== $$f"; $(UV) run --locked python -m bench.$$(basename $$f .py); done
