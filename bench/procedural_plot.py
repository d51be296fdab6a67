"""Plot the procedural conductor's wrists over time with the tracked beats, to eyeball the motion.

Usage: python bench/procedural_plot.py MUSIC_FILE OUT.png [--seconds 12] [--seed 0] [--variation 1]

Top: the hands' height (image y, drawn up) with a line at every beat (thick on downbeats);
the right wrist's lowest points should sit on the lines. Bottom: both wrists' paths in the
image over the first bars, as the camera sees them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.audio import load_audio  # noqa: E402
from core.procedural import conduct  # noqa: E402
from core.skeleton import JOINT_INDEX  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("music")
    parser.add_argument("out")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of the time plot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variation", type=float, default=1.0)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    motion = conduct(load_audio(args.music), seed=args.seed, variation=args.variation)
    keypoints_30fps = motion.keypoints
    times_s = np.arange(motion.frame_count) / motion.fps
    shown = times_s <= args.seconds
    figure, (timeline, image) = plt.subplots(2, 1, figsize=(12, 10), gridspec_kw={"height_ratios": [1, 1.4]})
    for beat in motion.extra["beats_s"]:
        if beat <= args.seconds:
            strong = beat in motion.extra["downbeats_s"]
            timeline.axvline(beat, color="0.3" if strong else "0.8", lw=1.5 if strong else 0.7, zorder=0)
    for name, colour in (("right_wrist", "tab:red"), ("left_wrist", "tab:blue"), ("nose", "tab:green")):
        timeline.plot(times_s[shown], 1.0 - keypoints_30fps[shown, JOINT_INDEX[name], 1], color=colour, label=name)
    timeline.set_xlabel("time (s)")
    timeline.set_ylabel("height (1 - image y)")
    timeline.legend(loc="upper right")
    timeline.set_title(
        f"{Path(args.music).name}: meter {motion.extra['meter']}, {motion.extra['tempo_bpm']:.0f} bpm, "
        f"seed {args.seed}, variation {args.variation}"
    )
    bars = times_s <= min(args.seconds, 8.0)
    for name, colour in (("right_wrist", "tab:red"), ("left_wrist", "tab:blue"), ("right_elbow", "salmon"),
                         ("left_elbow", "lightblue")):
        image.plot(*keypoints_30fps[bars, JOINT_INDEX[name]].T, color=colour, lw=0.8, label=name)
    for name in JOINT_INDEX:
        image.scatter(*keypoints_30fps[0, JOINT_INDEX[name]], color="k", s=10)
    image.set_xlim(0.2, 0.8)
    image.set_ylim(0.85, 0.25)  # image y points down
    image.set_aspect("equal")
    image.legend(loc="lower right")
    image.set_title("wrist paths in the image (first 8 s), black: pose at frame 0")
    figure.tight_layout()
    figure.savefig(args.out, dpi=80)


if __name__ == "__main__":
    main()
