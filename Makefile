# hhh-eval everyday targets. Run `make help`.
# Every variable reaches the CLI as ONE quoted argument: its text is never expanded by make nor run by the shell.

PYTHON ?= python3
BACKEND ?= hf
OUTPUT_DIR ?= results

# every variable a user sets (add new ones here): never exported to the recipe environment, where make would
# expand (and so run) their text, and checked for control characters below
USER_VARS := MODEL MODEL_ARGS BACKEND LIMIT TASKS JUDGE DATA_DIR RUN_NAME BATCH_SIZE SEED POLICY BASELINE SUITE \
	OUTPUT_DIR REAL_RUN SWEEP EXECUTOR RAY_ADDRESS
unexport $(USER_VARS)
comma := ,
# q: the variable named $(1), unexpanded, single-quoted for the shell
q = '$(subst ','\'',$(value $(1)))'

# A newline in a value would split a recipe line in two (and `make -i` would run the second as a command), so a
# control character in any user variable, PYTHON or any variable set on the command line stops make at once.
CHECKED_VARS := $(sort PYTHON $(USER_VARS) $(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v))))
define newline


endef
# names among $(1) whose value holds a newline (make's $(shell) drops newlines) or another control character
with_ctrl = $(strip $(foreach v,$(1),$(if $(or $(findstring $(newline),$(value $(v))),$(filter-out 0,$(strip \
	$(shell printf '%s' $(call q,$(v)) | LC_ALL=C tr -cd '\001-\037\177' | wc -c)))),$(v))))
BAD_VARS := $(call with_ctrl,$(CHECKED_VARS))
ifneq ($(BAD_VARS),)
$(error $(BAD_VARS) contains a newline or another control character; pass the value on one line without control \
	characters)
endif
# opt: "--flag 'value'" when the variable named $(2) is set, else nothing
opt = $(if $(value $(2)),$(1) $(call q,$(2)))

EVAL_OPTS = $(call opt,--suite,SUITE) --output-dir $(call q,OUTPUT_DIR) \
	$(call opt,--limit,LIMIT) $(call opt,--tasks,TASKS) $(call opt,--judge,JUDGE) \
	$(call opt,--data-dir,DATA_DIR) $(call opt,--run-name,RUN_NAME) $(call opt,--batch-size,BATCH_SIZE) \
	$(call opt,--seed,SEED) $(call opt,--policy,POLICY) $(call opt,--baseline,BASELINE)

.PHONY: help install eval sweep test bench bench-compare bench-sweep clean

help: ## list targets and variables
	@echo "make install          install torch first (the CPU wheel where pip is set up for it), then hhh-eval and test tools (editable)"
	@echo "make eval             offline demo: tiny local model on shipped sample items (scores mean nothing)"
	@echo "make eval MODEL=org/name [BACKEND=hf|vllm|local-completions] [MODEL_ARGS=dtype=bfloat16,...]"
	@echo "          [LIMIT=N] [TASKS=a,b] [SUITE=hhh-core] [JUDGE=refusal] [DATA_DIR=dir] [POLICY=name|file [BASELINE=card]]"
	@echo "          [BATCH_SIZE=8] [SEED=1234] [RUN_NAME=name] [OUTPUT_DIR=results]"
	@echo "                      run the suite on a model; with POLICY the release gate runs last and fails the target"
	@echo "make sweep SWEEP=file [EXECUTOR=local|ray] [RAY_ADDRESS=addr] [POLICY=file] [OUTPUT_DIR=results]"
	@echo "                      evaluate every point of a sweep file (README: Sweeps); writes OUTPUT_DIR/sweeps/<name>/"
	@echo "make test             run the tests (real-data tests need HHH_EVAL_DATA_DIR, e.g. ../shared/data)"
	@echo "make bench            wall time of hhh-eval vs lm-eval alone, cached re-run, CLI start-up"
	@echo "make bench-compare [REAL_RUN=results/<model>/<run>]   compare, plot and sweep report (with and without a policy) of 100 full-suite cards"
	@echo "make bench-sweep      4 tiny-model points: local vs Ray (1 worker on 1 and on 2 CPUs, 3 alternating rounds; 2 workers), cached re-run, 4 GB fingerprint"
	@echo "make clean            remove results/ and build files"

.installed: pyproject.toml
	$(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install -e '.[dev]'
	@touch .installed

install: .installed

eval: .installed
ifeq ($(strip $(value MODEL)),)
	$(PYTHON) -m hhh_eval demo $(EVAL_OPTS)
else
	$(PYTHON) -m hhh_eval run --model $(call q,BACKEND) \
		--model-args 'pretrained='$(call q,MODEL)$(if $(value MODEL_ARGS),'$(comma)'$(call q,MODEL_ARGS)) $(EVAL_OPTS)
endif

sweep: .installed
ifeq ($(strip $(value SWEEP)),)
	@echo "make sweep needs SWEEP=<sweep file>, e.g. make sweep SWEEP=sweeps/med-merge.yaml (README: Sweeps)"; exit 2
else
	$(PYTHON) -m hhh_eval sweep $(call q,SWEEP) --output-dir $(call q,OUTPUT_DIR) \
		$(call opt,--executor,EXECUTOR) $(call opt,--ray-address,RAY_ADDRESS) $(call opt,--policy,POLICY)
endif

test: .installed
	$(PYTHON) -m pytest tests

bench: .installed
	$(PYTHON) benchmarks/bench_run.py

bench-compare: .installed
	$(PYTHON) benchmarks/bench_compare.py $(if $(value REAL_RUN),--real $(call q,REAL_RUN))

bench-sweep: .installed
	$(PYTHON) benchmarks/bench_sweep.py

clean:
	rm -rf results/*/ results/.cache build dist *.egg-info .installed .pytest_cache
