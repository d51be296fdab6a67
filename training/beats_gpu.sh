#!/usr/bin/env bash
# The learned beat tracker's GPU configuration: one prepared run of under ten minutes on one GPU
# (written and tested on the CPU for a few steps; no GPU figures of our own yet).
#
#   DATA=/work/data/beats bash training/beats_gpu.sh            # OUT=runs/beats_gpu MINUTES=7
#
# Needs the renders of training.beat_renders (train/ and val/ splits) under DATA and the shipped
# weights it goes on from. It trains the 10-block network (about 24 s of context either side)
# from weights/beat_tracker_cpu_v3 with every lever of issue 24 (level ramps, meters re-cut,
# beatless stretches) on 64 crops of 32 s a step in bfloat16, stops after MINUTES with a
# checkpoint and weights (run it again and it goes on exactly where it stopped), then fits the
# decoder's downbeat calibration and meter priors on the val renders into the model card. Judge
# the result with bench/beat_tracking.py (copy the weights and card into weights/ first).
set -euo pipefail
DATA=${DATA:?set DATA to a training.beat_renders folder}
OUT=${OUT:-runs/beats_gpu}
MINUTES=${MINUTES:-7}
DEVICE=${DEVICE:-cuda}
PYTHON=${PYTHON:-python}
WORKERS=${WORKERS:-$(($(nproc) - 2))}

cd "$(dirname "$0")/.."
started=$(date +%s)
resume=()
if [ -f "$OUT/ckpt.pt" ]; then resume=(--resume auto); fi
"$PYTHON" -m training.beats --data "$DATA" --out-dir "$OUT" "${resume[@]}" \
    --device "$DEVICE" --amp --batch-size 64 --sample-s 32 --workers "$WORKERS" \
    --blocks 10 --init-weights weights/beat_tracker_cpu_v3.safetensors \
    --level-ramps 0.3 --meter-splice 0.3 --beatless 0.2 \
    --lr 2e-3 --warmup-steps 200 --max-steps 6000 --max-minutes "$MINUTES" \
    --eval-every 1000 --checkpoint-every 500 --val-pieces 48 --no-progress
"$PYTHON" -m training.beat_calibration --data "$DATA" --weights "$OUT/beat_tracker.safetensors" --limit 120 --write
echo "done in $(($(date +%s) - started)) s: $OUT/beat_tracker.safetensors and its card (decoder calibration in it)"
