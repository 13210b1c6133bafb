# The two commands of the README, and the usual chores.
.PHONY: run test lint format clean-data

UV ?= uv
export PATH := $(HOME)/.local/bin:$(PATH)

run:  ## Start the platform with its demo data on http://localhost:8000
	@scripts/bootstrap.sh run
	@$(UV) run --frozen territoires run

test:  ## Run the whole test suite against real PostGIS and Redis
	@scripts/bootstrap.sh test
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen pytest

lint:
	$(UV) run ruff check . && $(UV) run ruff format --check .

format:
	$(UV) run ruff format . && $(UV) run ruff check --fix .

clean-data:  ## Forget local mode's database, Redis and results
	rm -rf .data
