# Two commands: `make demo` renders examples/demo.yaml and examples/animation-2d.yaml offline;
# `make test` runs every test. Both create .venv and install what they need on first use:
# demo the runtime (torch, open_clip, the studio's widgets), test also the test tools, JupyterLab
# and Voila (which `make lab` and `make voila` open the notebook in).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The torch build this repository is tested with; Colab keeps its own (requirements.txt).
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1
RUNTIME := $(VENV)/.runtime
DEV := $(VENV)/.dev
PIP := $(BIN)/pip install --quiet --no-compile

.PHONY: demo test test-colab lab voila bench readme notebook format clean

# Bytecode is compiled when a module is first imported, not for every installed file (half
# the install time), and cached for the next start (some shells switch caching off).
unexport PYTHONDONTWRITEBYTECODE

$(RUNTIME): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) $(TORCH_PIN) -r requirements.txt
	$(PIP) --no-deps -e .
	touch $@

# Ray's own processes (its dashboard agent above all) must start within Ray's hard-coded
# timeouts; compiling Ray's modules on their first import made the raylet give up on a fresh
# clone's first sweep test, so they are compiled here (about 8 s).
# rfc3987-syntax (an extra of jsonschema that Jupyter's packages ask for) builds an Earley parser
# when jsonschema is imported: 2.5 s of CPU in every process that imports Ray or a Jupyter
# server (seven per Ray start, one per sweep worker), for IRI format checks nothing here makes.
# Without it jsonschema leaves those formats unchecked.
$(DEV): $(RUNTIME) requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	$(BIN)/pip uninstall --quiet --yes rfc3987-syntax
	$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c "import importlib.util as u; print(u.find_spec('ray').submodule_search_locations[0])")" > /dev/null
	touch $@

demo: $(RUNTIME)
	$(BIN)/python -m pytti_nb render examples/demo.yaml examples/animation-2d.yaml --set allow_overwrite=true

# Two workers, each taking whole test files (module fixtures such as a JupyterLab server or a
# Ray instance start once).
test: $(DEV)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=25

# Colab's own package versions on Python 3.13 (tools/colab_env.sh builds .venv-colab), the
# install checked against them, and the tests that must hold there; CI runs it after `test`.
test-colab:
	bash tools/colab_env.sh

lab: $(DEV)
	$(BIN)/jupyter lab pyttitools.ipynb

voila: $(DEV)
	$(BIN)/voila pyttitools.ipynb --VoilaConfiguration.extension_denylist='["jupyterlab-jupytext"]'

bench: $(RUNTIME)
	$(BIN)/python -m pytti_nb.bench

readme: $(RUNTIME)
	$(BIN)/python -m pytti_nb.docs

notebook: $(RUNTIME)
	$(BIN)/jupytext --sync pyttitools.ipynb

format: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .venv-colab out
