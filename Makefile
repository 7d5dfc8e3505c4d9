# `make train` and `make test` build .venv from the pinned requirements on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=

.PHONY: train test test-fast benchmark weights notebook clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

train: $(VENV)/.installed
	$(BIN)/python train.py $(ARGS)

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/lenet5_fashion_mnist.py $(ARGS)

# retrain every published weight from its recipe (weights/recipes/) on $$ZOO_DATA_DIR and regenerate the README's tables
weights: $(VENV)/.installed
	$(BIN)/python -m zoo.weights build all
	$(BIN)/python -m zoo.weights readme

# execute notebooks/quickstart.ipynb (the published LeNet-5 on MNIST) from a temporary folder; the result goes to logs/quickstart.executed.ipynb
notebook: $(VENV)/.installed
	$(BIN)/python -m zoo.notebook run $(ARGS)

clean:
	rm -rf $(VENV) logs
