# fastgan's two quick-start commands (`make train`, `make test`) and the build steps they need.
# Each target sets up what it needs: a virtualenv with pinned torch, then the native build.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python

# CUDA architectures to compile: this machine's GPU if it has one, else sm_90 (what CI builds).
# Override with FASTGAN_CUDA_ARCHS=... or build CPU-only with FASTGAN_CUDA=0.
FASTGAN_CUDA_ARCHS ?= $(shell nvidia-smi >/dev/null 2>&1 && echo native || echo 90)
export FASTGAN_CUDA_ARCHS

.PHONY: venv build test train bench wheel clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -r requirements-dev.txt
	touch $@

# Editable install: Python files are read from this tree; the extension goes to the venv.
build: venv
	$(VPY) -m pip install -q --no-build-isolation --no-deps -e .
	$(VPY) -c "import fastgan; print('fastgan native build:', fastgan.native_info())"

test: build
	$(VPY) -m pytest -q

# StyleGAN2 (preset stylegan2-small32) on Fashion-MNIST for 30 CPU minutes: samples, curves,
# checkpoints and metrics under runs/stylegan2-small32/ (TRAIN_ARGS adds flags, e.g.
# TRAIN_ARGS="--threads 1"; TRAIN_MINUTES=10 trains shorter).
TRAIN_MINUTES ?= 30
train: build
	$(VENV)/bin/fastgan train stylegan2 --preset small32 --minutes $(TRAIN_MINUTES) $(TRAIN_ARGS)

bench: build
	$(VPY) -m benchmarks.bench_bias_act

wheel: venv
	$(VPY) -m pip wheel -q --no-build-isolation --no-deps -w dist .

clean:
	rm -rf build dist
