# geonb: two commands do all the set-up on a fresh machine.
#   make reproduce   create .venv, install, make the offline data available, run the main job
#   make test        the same set-up, then the whole test gate (what CI runs)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
# The virtual environment is cached outside the clone, keyed by the dependency lists, and linked as .venv.
DEPS_KEY = $(shell { grep -E '^(requirements|dev_requirements|app_requirements|dask_requirements) *=' settings.ini; echo '$(TORCH_PINS)'; } | sha256sum | cut -c1-16)
VENV_CACHE ?= $(HOME)/.cache/geonb
VENV := .venv
BIN := $(VENV)/bin
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: setup data browser test test-slow reproduce lint-nbs outputs docs clean

setup:
	@target="$(VENV_CACHE)/venv-$(DEPS_KEY)"; \
	if [ -d $(VENV) ] && [ ! -L $(VENV) ]; then target=$(VENV); fi; \
	if [ ! -f "$$target/.geonb-complete" ]; then \
	  echo ">> creating the environment in $$target (torch installs from local disk where available)"; \
	  rm -rf "$$target"; $(PYTHON) -m venv "$$target"; \
	  "$$target/bin/pip" install -q --upgrade pip; \
	  "$$target/bin/pip" install -q $(TORCH_PINS); \
	  "$$target/bin/pip" install -q -e '.[dev,app,dask]'; \
	  touch "$$target/.geonb-complete"; \
	fi; \
	if [ "$$target" != "$(VENV)" ]; then ln -sfn "$$target" $(VENV); fi; \
	$(BIN)/pip install -q --no-deps -e . 2>&1 | grep -v -i -E 'warning|^ *!!|^ *\*|^$$' || true; \
	$(BIN)/python -c "import geonb, torch; print('>> geonb', geonb.__version__, 'from', geonb.__file__, '| torch', torch.__version__)"

# Fashion-MNIST, the default real dataset, comes from Debian's dataset-fashion-mnist package.
data:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
	  echo ">> Fashion-MNIST: /usr/share/datasets/fashion-mnist"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo ">> installing Debian's dataset-fashion-mnist"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	else \
	  echo ">> Fashion-MNIST not installed and apt-get unavailable: it will be downloaded where allowed, see data/README.md"; \
	fi

# The explorer app's browser test drives Debian's chromium (never a browser downloaded by a test tool).
browser:
	@if command -v chromium >/dev/null; then echo ">> chromium: $$(command -v chromium)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo ">> installing Debian's chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo ">> chromium not installed: the browser test will be skipped"; fi

# The gate: notebooks clean, library in sync with notebooks, every notebook runs (library notebooks must also
# reproduce their committed outputs), then pytest (which builds the docs site and opens it in a browser), two test
# files at a time (pytest-xdist; a file's tests stay in one worker, so its module fixtures are built once).
lint-nbs:
	@$(BIN)/nbdev_clean
	@if [ -n "$$(git status --porcelain -- nbs)" ]; then echo "nbdev_clean changed notebooks; run nbdev_clean and commit:"; git status --short -- nbs; exit 1; fi
	@$(BIN)/nbdev_export
	@if [ -n "$$(git status --porcelain -- geonb)" ]; then echo "geonb/ is out of sync with nbs/; run nbdev_export and commit:"; git status --short -- geonb; exit 1; fi
	@$(BIN)/python tools/readme.py --check
	@echo ">> notebooks clean, library and README in sync"

test: setup data browser lint-nbs
	$(BIN)/python tools/nb_outputs.py --check --n_workers 2
	$(BIN)/nbdev_test --n_workers 2 --path nbs/experiments
	$(BIN)/python -m pytest tests/ -q -m 'not slow' -n 2 --dist loadfile

# The fault tests that take over a minute each (Ctrl-C and a killed runner on a Dask cluster).
test-slow: setup data
	$(BIN)/python -m pytest tests/ -q -m slow

# Execute the library notebooks and store their outputs (give NBS=nbs/X.ipynb for some of them).
NBS ?=
outputs: setup data
	$(BIN)/python tools/nb_outputs.py --n_workers 2 $(NBS)

# The documentation site, built offline into _docs/ (open _docs/index.html or serve the folder).
docs: setup
	$(BIN)/python tools/docs.py

# The main job: every registered card's quick profile (offline real data), executed through papermill
# into reports/runs/<card>/<run-id>/, then the cards and reports/index.md are rendered from the bundles.
PROFILE ?= quick
# Runs go side by side, one per core, each kernel with one torch thread (see `geonb reproduce --jobs`).
JOBS ?= $(shell nproc)
reproduce: setup data
	$(BIN)/geonb reproduce --profile $(PROFILE) --jobs $(JOBS) $(CARDS)

clean:
	rm -rf reports/runs/* _docs _proc
