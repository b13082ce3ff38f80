# Two commands do all the set-up (see README.md):
#   make lab    create .venv, install the course, open JupyterLab on notebooks/ (localhost, with a token)
#   make test   create .venv, install the course and its test tools, run every test
# PYTHON picks the interpreter that creates the virtual environment (3.10 or newer).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8888

.PHONY: lab test bench bench-quick install install-test install-teach site clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "vae-course needs Python 3.10 or newer, got " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# A stamp per extra: editing pyproject.toml re-runs the install, nothing else does.
$(VENV)/.installed-lab: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --progress-bar off -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --progress-bar off -e '.[test]'
	touch $@ $(VENV)/.installed-lab

# Teachers' tools (nbgrader, the site builder) go into the same .venv only on request; `make lab` never installs them.
$(VENV)/.installed-teach: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --progress-bar off -e '.[teach]'
	touch $@ $(VENV)/.installed-lab

install: $(VENV)/.installed-lab
install-test: $(VENV)/.installed-test
install-teach: $(VENV)/.installed-teach

# Token authentication stays on and the server listens on localhost only. JupyterLab refuses to run
# as root (common in containers) unless told to; we tell it so only when that is the case.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

lab: install
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) --ServerApp.root_dir=notebooks $(ALLOW_ROOT)

test: install-test
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks tests

# Four tables: training speed against the usual PyTorch pipeline, evaluation speed, quality in nats,
# course runtime (docs/BENCHMARKS.md). Fashion-MNIST: apt-get install dataset-fashion-mnist.
bench: install
	$(BIN)/python -m benchmarks

bench-quick: install
	$(BIN)/python -m benchmarks --quick

# The course website in build/site (open build/site/index.html): the executed lessons as the student
# edition shows them, offline; Colab and Binder links when `git remote get-url origin` is on GitHub.
site: install-teach
	$(BIN)/python -m vae_course.teaching_site build/site

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
