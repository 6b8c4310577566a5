# Cellbridge front door. `make demo` and `make test` set themselves up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TABLETS ?= 5

.PHONY: setup system demo test test-all fuzz soak bench lint clean screenshots

setup: system $(STAMP)

system:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[device,gateway,prison,dev]'
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/cellbridge demo --tablets $(TABLETS)

# In parallel (pytest-xdist; JOBS=0 for one process): most tests wait on real processes (a broker,
# Squid, Chromium, a shell's window), so two workers per core keep the cores busy (on 2 cores:
# 8 min 47 s against 12 min 32 s with one per core). Work stealing: a worker that runs dry takes
# half of another's queue, so no file of a few long tests is left running alone at the end. Then,
# alone, the few marked `serial` (a time bound, or a demo pacing itself by sleeps).
JOBS ?= $(shell echo $$(( $$(nproc) * 2 )))
test: setup
	@status=0; \
	$(PY) -m pytest -q -n $(JOBS) --dist worksteal -m "not serial" --durations=25 || status=$$?; \
	$(PY) -m pytest -q -n 0 -m serial --durations=5 || status=$$?; \
	exit $$status

# The full soak/load versions of the slow tests.
test-all: setup
	CELLBRIDGE_SLOW=1 $(PY) -m pytest -q

# The fuzz campaigns at full length (make test runs each property 150 times).
FUZZ_EXAMPLES ?= 5000
fuzz: setup
	CELLBRIDGE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) CELLBRIDGE_FUZZ_REPORT=bench-results/fuzz.json \
		$(PY) -m pytest -q -p no:randomly tests/fuzz

# The fault campaigns at full length (make test runs them bounded): docs/fail-closed.md.
soak: setup
	CELLBRIDGE_SLOW=1 $(PY) -m pytest -q -p no:randomly tests/faults

# The shell's gallery linked from the README: every screen in every language, standard, high
# contrast and largest text, rendered and checked by the GUI tests under Xvfb.
screenshots: setup
	rm -rf docs/screenshots/en docs/screenshots/pl
	CELLBRIDGE_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q -p no:randomly \
		tests/device/test_screenshots.py

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The tablet image (buildroot/README.md), built with a Buildroot checkout you fetched:
#   make image BOARD=rpi4|qemu BUILDROOT=DIR [DEPLOYMENT=release RELEASE_KEYRING=PEM TUF_ROOT=root.json] [IMAGE_VERSION=x.y.z]
BOARD ?= qemu
DEPLOYMENT ?= development
IMAGE_VERSION ?= 0.1.0
IMAGE_OUTPUT ?= $(CURDIR)/output/$(BOARD)-$(DEPLOYMENT)
.PHONY: image image-check image-test
# Every Python package of buildroot/ built as Buildroot builds it (its pinned host tools, from PyPI);
# with CELLBRIDGE_BUILDROOT=<checkout of buildroot/buildroot.version> also check-package over the tree
# and every defconfig resolved. CELLBRIDGE_IMAGE_CHECK_KIVY=1 adds Kivy (compiles ~4 min). `make test`
# runs the same tests (tests/buildroot).
image-check: setup
	$(PY) -m pytest -q -p no:randomly tests/buildroot/test_host_build.py tests/buildroot/test_kconfig.py

# The boot test (tests/image, README "Boot test"): a Debian test image carrying buildroot/'s overlay,
# units, firewall, RAUC config and compositor setup, booted in qemu-system-x86_64. Needs root
# (mmdebstrap, mkfs) and network to Debian's mirror and PyPI on the first run; cached in
# ~/.cache/cellbridge/image-test/ after that. The tablet's wing runs on this host (ports 8883 and
# 8443 must be free): the shell's home screen, an app tapped open, a staff lock, then an OS
# rollout and RAUC A/B over six boots of one writable copy (tests/image/test_ab.py, the host
# playing boot.cmd): about 9 minutes on 2 quiet cores with the disk cached, 15 from nothing.
# Not part of `make test` (it needs root and the network, and would double CI's time).
image-test: setup
	CELLBRIDGE_IMAGE_TEST=1 $(PY) -m pytest -q -p no:randomly --timeout=7200 tests/image

image:
	@sh buildroot/scripts/build-image.sh '$(BOARD)' '$(BUILDROOT)' '$(IMAGE_OUTPUT)' '$(DEPLOYMENT)' '$(IMAGE_VERSION)' '$(RELEASE_KEYRING)' $(if $(TUF_ROOT),'$(TUF_ROOT)')

# The TUF conformance suite (theupdateframework/tuf-conformance) against our update client, from
# a checkout you fetched (docs/tuf-conformance.md); not part of `make test`:
#   make tuf-conformance TUF_CONFORMANCE=DIR
# The suite's own Python deps go into DIR/env (a throwaway venv), never into $(VENV).
.PHONY: tuf-conformance
ifdef TUF_CONFORMANCE
tuf-conformance: setup
	@command -v faketime >/dev/null || { echo "the suite needs faketime: apt-get install faketime"; exit 2; }
	@test -x '$(TUF_CONFORMANCE)/env/bin/pytest' || { python3 -m venv '$(TUF_CONFORMANCE)/env' \
		&& '$(TUF_CONFORMANCE)/env/bin/pip' install -q -e '$(TUF_CONFORMANCE)'; }
	cd '$(TUF_CONFORMANCE)' && CELLBRIDGE_PYTHON='$(abspath $(PY))' ./env/bin/pytest -p no:cacheprovider \
		tuf_conformance --entrypoint='$(CURDIR)/scripts/tuf-conformance-client' -rfEx $(TUF_CONFORMANCE_ARGS)
else
tuf-conformance:
	@echo "make tuf-conformance needs TUF_CONFORMANCE=<a checkout of theupdateframework/tuf-conformance>:"
	@echo "  git clone https://github.com/theupdateframework/tuf-conformance /tmp/tuf-conformance"
	@echo "  make tuf-conformance TUF_CONFORMANCE=/tmp/tuf-conformance   (docs/tuf-conformance.md)"
	@exit 2
endif
