# Two commands do all the set-up (see README.md):
#   make lab    create .venv, install the course, open JupyterLab on notebooks/ (localhost, with a token)
#   make test   create .venv, install the course, its test tools and the teachers' tools, run every test
# PYTHON picks the interpreter that creates the virtual environment (3.10 or newer).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8888

.PHONY: lab test test-variant bench bench-quick install install-test install-teach site clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "vae-course needs Python 3.10 or newer, got " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# A stamp per extra: editing pyproject.toml re-runs the install, nothing else does.
$(VENV)/.installed-lab: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --progress-bar off -e .
	touch $@

# The tests cover the teachers' tools too (nbgrader, the site), so `make test` installs them; `make lab` never does.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --progress-bar off -e '.[test,teach]'
	touch $@ $(VENV)/.installed-lab $(VENV)/.installed-teach

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

# The lessons once more on another CPU kernel path (torch's own kernels without AVX), every model retrained
# in a scratch copy: a number a lesson asserts must hold on any CPU, not only on the one that ran it first.
VARIANT ?= ATEN_CPU_CAPABILITY=default
test-variant: install-test
	rm -rf build/variant && mkdir -p build/variant && cp notebooks/*.ipynb build/variant/
	cd build/variant && env $(VARIANT) ../../$(BIN)/python -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env .

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
