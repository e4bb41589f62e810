# Two commands: `make demo` renders examples/demo.yaml and examples/animation-2d.yaml offline;
# `make test` runs every test.
# Both create .venv and install everything on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The torch build this repository is tested with; Colab keeps its own (requirements.txt).
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: demo test bench readme notebook format clean

# Bytecode is compiled when a module is first imported, not for every installed file (half
# the install time), and cached for the next start (some shells switch caching off).
unexport PYTHONDONTWRITEBYTECODE

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-compile $(TORCH_PIN) -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-compile --no-deps -e .
	touch $@

demo: $(STAMP)
	$(BIN)/python -m pytti_nb render examples/demo.yaml examples/animation-2d.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pytti_nb.bench

readme: $(STAMP)
	$(BIN)/python -m pytti_nb.docs

notebook: $(STAMP)
	$(BIN)/jupytext --sync pyttitools.ipynb

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) out
