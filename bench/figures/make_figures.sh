#!/bin/sh
# The README's pictures: a preview frame and the keypoint curves of the demo piece, made with the
# official M2S-GAN weights (read from ../shared/parity) by the bpy-free preview commands.
# Run from the repository root: sh bench/figures/make_figures.sh
set -e
python=${PYTHON:-.venv/bin/python}
weights=${WEIGHTS:-../shared/parity/M2SGAN_official_pretrained.pt}
motion=$(mktemp -d)/demo.npz
"$python" -m core generate core/assets/demo_piece.ogg -o "$motion" --weights "$weights" --seed 0
"$python" -m core preview "$motion" -o bench/figures/preview_frame.png --at 4 --size 360
"$python" -m core plot "$motion" -o bench/figures/keypoint_curves.png --size 1000x500
# The conductor as make demo builds it, one frame rendered headless (EEVEE; on a machine without a
# GPU it runs on Mesa's software OpenGL: a minute or more).
blend=$(mktemp -d)/demo.blend
"$python" addon/headless_main.py generate core/assets/demo_piece.ogg -o "$blend"
"$python" addon/headless_main.py render "$blend" -o bench/figures/demo_frame.png --frame 292 \
    --resolution 960x540 --engine eevee
# The procedural conductor in 3D (issue 25): one bar of each meter at each ictus, front and side,
# and the free hand's gestures in close-up, rendered headless with Cycles (about a minute).
"$python" bench/conductor_stills.py meters bench/figures/conductor_meters.png
"$python" bench/conductor_stills.py hands bench/figures/free_hand_gestures.png
