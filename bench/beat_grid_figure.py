"""The beat grid as the animator edits it: the timeline's beat markers over the baton hand's
height, before and after moving one marker (the README's picture).

    python bench/beat_grid_figure.py [MUSIC] [-o bench/figures/beat_grid_markers.png]

The markers are the tracker's grid as *Analyse Beats* names them (|bar.1 for a downbeat); one
of them is moved a fifth of a second later, and the procedural conductor is run on both grids.
The hand's lowest points follow the markers; the span where the two motions differ is shaded: it
starts three beats before the moved beat's bar and ends two beats into the next bar.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("music", nargs="?", default=str(ROOT / "core" / "assets" / "demo_piece.ogg"))
    parser.add_argument("-o", "--output", default=str(ROOT / "bench" / "figures" / "beat_grid_markers.png"))
    parser.add_argument("--seconds", type=float, default=9.0, help="length of the stretch shown")
    parser.add_argument("--move", type=int, default=9, help="index of the beat moved")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from core.audio.decode import SAMPLE_RATE_HZ, load_audio
    from core.beats.grid import beat_label, grid_from_times
    from core.beats.tracking import track_beats
    from core.procedural.conductor import conduct
    from core.motion.skeleton import JOINT_INDEX

    samples = load_audio(args.music)
    duration_s = samples.size / SAMPLE_RATE_HZ
    tracked = track_beats(samples)
    names = [
        ("|" if tracked.bar_position[k] == 0 else "") + beat_label(tracked, k) for k in range(tracked.beats_s.size)
    ]
    edited = tracked.beats_s.copy()
    edited[args.move] += 0.2
    runs = {}
    poses = []
    for label, times in (("as tracked", tracked.beats_s), (f"marker {names[args.move]} moved 0.2 s later", edited)):
        grid = grid_from_times(times, names, duration_s=duration_s)
        keypoints = conduct(samples, seed=0, beats=grid).without_lead_in().keypoints
        poses.append(keypoints)
        runs[label] = (times, keypoints[:, JOINT_INDEX["right_wrist"], 1])

    frames = int(args.seconds * 30)
    t = np.arange(frames) / 30
    figure, (timeline, curve) = plt.subplots(
        2, 1, figsize=(11, 4.6), sharex=True, gridspec_kw={"height_ratios": [1, 3]}
    )
    timeline.set_facecolor("#2b2b2b")
    for (label, (times, _height)), colour, level in zip(runs.items(), ("#9ecbff", "#ffb347"), (0.65, 0.25)):
        for time_s, name in zip(times, names):
            if time_s > args.seconds:
                break
            downbeat = name.startswith("|")
            timeline.plot([time_s, time_s], [level - 0.18, level + 0.18], color=colour, lw=2.2 if downbeat else 1.2)
            timeline.text(time_s + 0.03, level + 0.05, name, color=colour, fontsize=7)
    timeline.set_yticks([0.65, 0.25], ["tracked", "edited"])
    timeline.set_ylim(0, 0.9)
    timeline.set_title("Beat markers on the timeline (|bar.1 = a downbeat) and the baton hand's height under them")
    for (label, (times, height)), colour in zip(runs.items(), ("#1f77b4", "#ff7f0e")):
        curve.plot(t, -height[:frames], color=colour, lw=1.6, label=label)
    moved_s = edited[args.move]
    differs = np.flatnonzero(np.abs(poses[0] - poses[1]).max(axis=(1, 2)) > 1e-9)  # any joint, any axis
    if differs.size:
        curve.axvspan(
            differs[0] / 30, (differs[-1] + 1) / 30, color="#cccccc", alpha=0.35, lw=0, label="motion differs"
        )
    curve.axvline(tracked.beats_s[args.move], color="#1f77b4", ls=":", lw=1)
    curve.axvline(moved_s, color="#ff7f0e", ls=":", lw=1)
    curve.set_xlabel("seconds")
    curve.set_ylabel("hand height (image, up)")
    curve.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
