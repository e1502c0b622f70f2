# paper_repro: every entry point. `make help` lists them.
# The two commands a fresh machine needs are `make reproduce` and `make test`; both set up
# the virtual environment first when it is missing or older than pyproject.toml.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first, pinned: here it is a local CPU wheel (seconds); elsewhere the CUDA build.
TORCH_SPEC ?= torch==2.13.0
# data root: ../shared/data when it sits beside the checkout (offline machines, CI), else ./data
PAPER_REPRO_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(abspath data))
export PAPER_REPRO_DATA
PROFILE ?=
NPROC ?= 1

.PHONY: help setup test verify-gradients derivations lint format reproduce tables features train figures report bench bench-precision bench-train gpu-check device-check

help:  ## list the targets
	@grep -E '^[a-z%-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet "$(TORCH_SPEC)"
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed  ## virtual environment + editable install (torch first)

test: $(VENV)/.installed lint  ## lint + the fast test suite (the CI suite)
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q

verify-gradients: $(VENV)/.installed  ## thorough hypothesis run: PyTorch heads vs SymPy, planted bugs, summary
	HYPOTHESIS_PROFILE=thorough PAPER_REPRO_VERIFY_REPORT=reports/verification/gradients.md \
		$(PY) -m pytest -q tests/losses tests/derivations

derivations: $(VENV)/.installed  ## render reports/derivations.md from the SymPy derivations
	$(PY) -m derivations.render --out reports/derivations.md

REPRO_ARGS = $(if $(PROFILE),--profile $(PROFILE)) $(if $(DEVICE),--device $(DEVICE)) \
             $(if $(PRECISION),--precision $(PRECISION)) $(if $(JOBS),--jobs $(JOBS)) \
             $(if $(SEEDS),--seeds $(SEEDS)) $(if $(BUDGET),--budget $(BUDGET)) \
             $(if $(RECIPE),--recipe $(RECIPE)) $(if $(REFERENCE),--reference)
# the settings a result records in its command
SETTINGS = $(if $(PROFILE), PROFILE=$(PROFILE))$(if $(PRECISION), PRECISION=$(PRECISION))$(if $(JOBS), JOBS=$(JOBS))$(if $(SEEDS), SEEDS=$(SEEDS))$(if $(BUDGET), BUDGET=$(BUDGET))$(if $(RECIPE), RECIPE=$(RECIPE))$(if $(REFERENCE), REFERENCE=1)
# NPROC > 1: DistributedDataParallel under torchrun, one process per GPU (or CPU share, gloo)
REPRO := $(if $(filter 1,$(NPROC)),$(PY) -m paper_repro,$(VENV)/bin/torchrun --standalone --nproc_per_node=$(NPROC) -m paper_repro)

reproduce: $(VENV)/.installed  ## your own runs into runs/reproduce/, beside the reference and the paper (CPU: the plan that fits BUDGET=120 min; GPU: PROFILE=paper; SEEDS=n; JOBS=n; NPROC=n: DDP; RECIPE=release: the authors' released set-up; REFERENCE=1: refresh reports/)
	$(REPRO) reproduce $(REPRO_ARGS) --command "make reproduce$(SETTINGS)"

reproduce-%: $(VENV)/.installed  ## one table: reproduce-mnist, -cifar10, -cifar10+, -cifar100, -cifar10-jpeg(+), -lfw; the recipe studies -mnist-recipe, -cifar10-jpeg-recipe (PROFILE=, SEEDS=, RECIPE=)
	$(REPRO) reproduce $* $(REPRO_ARGS) --command "make reproduce-$*$(SETTINGS)"

tables: $(VENV)/.installed  ## rewrite reports/tables/*.md from reports/results
	$(PY) -m paper_repro tables $(if $(PROFILE),--profile $(PROFILE))

features: $(VENV)/.installed  ## train the 2-D feature studies for figures 1 and 4 (PROFILE=quick|smoke; cpu and paper use quick's schedule)
	$(PY) -m paper_repro reproduce lsoftmax-2d cosface-toy --profile $(or $(PROFILE),quick) \
		$(if $(DEVICE),--device $(DEVICE)) $(if $(REFERENCE),--reference) \
		--command "make features$(if $(PROFILE), PROFILE=$(PROFILE))$(if $(REFERENCE), REFERENCE=1)"

# your own data: DATA=folder of class folders, or DATA=images.idx LABELS=labels.idx
# (TEST_DATA/TEST_LABELS optional); HEAD=lsoftmax M=4 (S=, K= for the cosine heads)
HEAD ?= softmax
TRAIN_ARGS = --data "$(DATA)" --head $(HEAD) $(if $(LABELS),--labels "$(LABELS)") \
	$(if $(TEST_DATA),--test-data "$(TEST_DATA)" --test-labels "$(TEST_LABELS)") \
	$(if $(M),--hyper m=$(M)) $(if $(S),--hyper s=$(S)) $(if $(K),--hyper k=$(K)) \
	$(if $(NETWORK),--network $(NETWORK)) $(if $(SEED),--seed $(SEED)) $(if $(LAMBDA_MIN),--lambda-min $(LAMBDA_MIN)) \
	$(if $(TASK),--task $(TASK)) $(if $(PAIRS),--pairs "$(PAIRS)") $(if $(BOX),--box $(BOX)) \
	--profile $(or $(PROFILE),quick) $(if $(DEVICE),--device $(DEVICE))

# the settings a result of make train records in its command
TRAIN_SETTINGS = $(if $(M), M=$(M))$(if $(LAMBDA_MIN), LAMBDA_MIN=$(LAMBDA_MIN))$(if $(S), S=$(S))$(if $(K), K=$(K))$(if $(NETWORK), NETWORK=$(NETWORK))$(if $(SEED), SEED=$(SEED))$(if $(PROFILE), PROFILE=$(PROFILE))$(if $(TASK), TASK=$(TASK))$(if $(PAIRS), PAIRS=$(PAIRS))$(if $(BOX), BOX=$(BOX))$(if $(LABELS), LABELS=$(LABELS))$(if $(TEST_DATA), TEST_DATA=$(TEST_DATA) TEST_LABELS=$(TEST_LABELS))

train: $(VENV)/.installed  ## one head on your own data: make train DATA=path HEAD=lsoftmax M=4; faces: TASK=verify (PAIRS=, BOX=); results in runs/results/
	@test -n "$(DATA)" || { echo "make train needs DATA=<folder of class folders, or IDX images with LABELS=>"; exit 2; }
	$(PY) -m paper_repro train $(TRAIN_ARGS) --command "make train DATA=$(DATA) HEAD=$(HEAD)$(TRAIN_SETTINGS)"

figures: $(VENV)/.installed  ## render reports/figures/ from saved results and features
	$(PY) -m paper_repro figures

report: $(VENV)/.installed figures  ## write reports/REPORT.md from saved results, tables, figures
	$(PY) -m paper_repro report

BENCH_RAW := .benchmarks/loss_heads
BENCH_TIME ?= 0.5
BENCH_PYTEST = $(PY) -m pytest tests/bench -m bench -q -p no:cacheprovider --benchmark-enable \
	--benchmark-max-time=$(BENCH_TIME) --benchmark-min-rounds=5 --benchmark-columns=median,iqr,rounds

bench: $(VENV)/.installed  ## loss heads vs plain softmax and pytorch-metric-learning -> reports/benchmarks/
	$(VENV)/bin/pip install --quiet --no-deps "pytorch-metric-learning>=2.9" scipy
	@mkdir -p $(BENCH_RAW)
	$(BENCH_PYTEST) --benchmark-json=$(BENCH_RAW)/denormals-kept.json
	PAPER_REPRO_BENCH_FLUSH_DENORMAL=1 $(BENCH_PYTEST) --benchmark-json=$(BENCH_RAW)/denormals-flushed.json
	$(PY) -m paper_repro.bench_report $(BENCH_RAW)/denormals-kept.json $(BENCH_RAW)/denormals-flushed.json

bench-precision: $(VENV)/.installed  ## quick MNIST softmax, 3 seeds in fp32 and bf16 -> reports/benchmarks/precision.md
	$(PY) -m paper_repro.bench_precision

bench-train: $(VENV)/.installed  ## images/s of a training step per network, precision, layout -> reports/benchmarks/training.md
	$(PY) -m paper_repro.bench_train --compile

# On the GPU machine: its own python, no venv or index needed (see paper_repro/gpu_check.py);
# copy ../shared/data/mnist (and an LFW cache) into .device-data/ first.
gpu-check:  ## the CUDA checks in one call (<= 8 min on one GPU) -> reports/gpu/, reports/benchmarks/training-cuda.md
	PYTHONPATH=. $(PYTHON) -m paper_repro.gpu_check --data-root $(or $(GPU_DATA),.device-data)

# One call on a lent GPU, with its own python, the data copied into .device-data/ and
# PAPER_REPRO_COMMIT set to the commit sent; what it wrote comes back as one archive in $(OUT).
DEVICE_OUT = $(or $(OUT),.device-out)
DEVICE_PROFILE = $(or $(PROFILE),paper)
device-table-%:  ## on a lent GPU: one table into the reference (PROFILE=paper, SEEDS=, JOBS=8), packed into $(OUT)/<table>.tar.gz
	mkdir -p $(DEVICE_OUT)
	PYTHONPATH=. $(PYTHON) -m paper_repro reproduce $* --profile $(DEVICE_PROFILE) \
		$(if $(SEEDS),--seeds $(SEEDS)) --jobs $(or $(JOBS),8) $(if $(DEVICE),--device $(DEVICE)) \
		--reference --no-progress --data-root $(or $(GPU_DATA),.device-data) \
		--command "make device-table-$* PROFILE=$(DEVICE_PROFILE)$(if $(SEEDS), SEEDS=$(SEEDS))"; \
	status=$$?; tar czf $(DEVICE_OUT)/$*.tar.gz reports/results/$(DEVICE_PROFILE)/$* \
		reports/tables/$(DEVICE_PROFILE)-$*.md; exit $$status

device-check:  ## on a lent GPU, one call of about 9 min: the CUDA checks, the missing cpu-profile CIFAR-10+ JPEG runs, bench-train; packed into $(OUT)/device-check.tar.gz
	mkdir -p $(DEVICE_OUT)
	PYTHONPATH=. timeout 240 $(PYTHON) -m paper_repro.gpu_check --data-root $(or $(GPU_DATA),.device-data) \
		--steps gradient_tests compiled_loss_equals_eager compiled_network_equals_eager \
		smoke_runners bench_train; \
	PYTHONPATH=. timeout 300 $(PYTHON) -m paper_repro reproduce cifar10-jpeg+ \
		--profile $(or $(PROFILE),cpu) --jobs $(or $(JOBS),8) $(if $(DEVICE),--device $(DEVICE)) \
		--reference --no-progress --data-root $(or $(GPU_DATA),.device-data) \
		--command "make device-check"; \
	tar czf $(DEVICE_OUT)/device-check.tar.gz --ignore-failed-read reports/gpu \
		reports/benchmarks/training-cuda.* reports/results/$(or $(PROFILE),cpu)/cifar10-jpeg+ \
		reports/tables/$(or $(PROFILE),cpu)-cifar10-jpeg+.md

lint: $(VENV)/.installed  ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
