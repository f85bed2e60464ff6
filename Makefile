# The single entry point of the course. Run `make` to see the targets.
# Needs GNU make and Python 3.11 (`make setup PYTHON=python3.12` to use another).

PYTHON ?= python3.11
# The virtual environment; point it at an existing one with `make test VENV=/path/to/venv`.
VENV ?= .venv
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS='-m "not slow"'` (skip the
# notebook runs) or `make test PYTEST_ARGS=tests/test_notebooks.py`.
PYTEST_ARGS ?=
# `make grade`: the lesson, the submissions (a folder or a .zip) and extra options of
# tools/grade.py, e.g. GRADE_ARGS="--workers 2 --memory 4G" (`python tools/grade.py -h`).
LESSON ?=
SUBMISSIONS ?=
GRADE_ARGS ?=
# Extra arguments for JupyterLab, e.g. `make lab LAB_ARGS="--no-browser --port 8899"`.
LAB_ARGS ?=
# `make release`: LESSON=NN_slug for the graded edition of that lesson, EDITION=open for the
# open-book one; URL=https://github.com/OWNER/REPO publishes somewhere else than pyproject.toml says.
EDITION ?=
URL ?=

# Jupyter refuses to run as root unless told to; in a container root is the usual user.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
# The venv's bin/ comes first on PATH, without activating anything: nbgrader's gradebook
# runs the `alembic` command by name, and notebooks start the venv's Python kernel.
export PATH := $(BIN):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup check-venv lab test lessons grade release colab-check train benchmark clean

help:
	@echo "make setup    create $(VENV) with $(PYTHON) and install the course (once)"
	@echo "make lab      start JupyterLab on the lessons (runs setup first)"
	@echo "make test     ruff and the whole test suite (PYTEST_ARGS=... to narrow it)"
	@echo "make lessons  regenerate lessons/ from solutions/ with nbgrader (teachers)"
	@echo "make grade LESSON=NN_slug SUBMISSIONS=folder-or.zip"
	@echo "               grade a class: each submission sandboxed, in parallel; writes"
	@echo "               grades/NN_slug/ (grades.csv, report.html, feedback/) and the gradebook"
	@echo "make release LESSON=NN_slug | EDITION=open"
	@echo "               build what students get, under dist/: the graded edition for a"
	@echo "               lesson (no answers of it or later ones) or the open-book edition"
	@echo "make colab-check  run every lesson as a new Colab user would, with Colab's"
	@echo "               package versions (tools/colab_versions.txt; Python 3.13)"
	@echo "make train    retrain the networks shipped in data/ (digits, shapes, shapes_*)"
	@echo "make benchmark  time each lesson in a fresh kernel (run time, peak memory), then"
	@echo "               score the explanation methods (localization, class discrimination,"
	@echo "               deletion/insertion), run style transfer 300 steps at the explorer's"
	@echo "               extremes (does the loss ever rise?), then grade 40"
	@echo "               made-up submissions with plain nbgrader and with make grade, then"
	@echo "               time each method against its reference library (Captum,"
	@echo "               pytorch-grad-cam, torchattacks) on 4 models, checking they agree"
	@echo "make clean    remove caches (keeps $(VENV), lessons and grades)"

setup: $(STAMP)

# Reinstalls only when the pins change. requirements-nodeps.txt says why it is separate.
$(STAMP): pyproject.toml requirements-nodeps.txt
	@command -v $(PYTHON) >/dev/null || { \
		echo "$(PYTHON) not found: install Python 3.11, or run make setup PYTHON=python3.12"; \
		exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev]"
	$(BIN)/python -m pip install --no-deps -r requirements-nodeps.txt
	touch $@

# Pointed at a venv of your own (VENV=...), make lab uses it as it is and installs nothing.
LAB_NEEDS := $(if $(filter .venv,$(VENV)),setup,check-venv)

check-venv:
	@test -x $(BIN)/jupyter || { echo "$(VENV) has no jupyter: run make setup VENV=$(VENV)"; exit 1; }

lab: $(LAB_NEEDS)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/lessons $(ROOT_FLAG) $(LAB_ARGS)

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lessons: setup
	$(BIN)/python tools/make_lessons.py

grade: setup
	@test -n "$(LESSON)" -a -n "$(SUBMISSIONS)" || { \
		echo "usage: make grade LESSON=00_getting_started SUBMISSIONS=path/to/folder-or.zip"; \
		exit 2; }
	$(BIN)/python tools/grade.py "$(LESSON)" "$(SUBMISSIONS)" $(GRADE_ARGS)

release: setup
	@test -n "$(LESSON)$(filter open,$(EDITION))" || { \
		echo "usage: make release LESSON=05_guided_backprop   (graded edition for a lesson)"; \
		echo "       make release EDITION=open                (open-book edition)"; exit 2; }
	$(BIN)/python tools/release.py $(if $(filter open,$(EDITION)),--open,--lesson "$(LESSON)") \
		$(if $(URL),--url "$(URL)")

colab-check: setup
	$(BIN)/python tools/colab_check.py

train: setup
	$(BIN)/python -m course_utils.train digits
	$(BIN)/python -m course_utils.train shapes
	$(BIN)/python -m course_utils.train shapes_patch
	$(BIN)/python -m course_utils.train shapes_texture
	$(BIN)/python -m course_utils.train shapes_anywhere
	$(BIN)/python -m course_utils.train shapes_shuffled

benchmark: setup
	$(BIN)/python tools/benchmark_lessons.py
	$(BIN)/python tools/pointing_game.py
	$(BIN)/python tools/style_stability.py
	$(BIN)/python tools/benchmark_grading.py
	$(BIN)/python tools/benchmark_methods.py

clean:
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) \
		-type d -print -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache *.egg-info
