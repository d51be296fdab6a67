"""Beat lock on held-out renders: a network's ictus alignment with the score's beats, unlocked and
locked, with the goals: >= 0.80 both directions, the baton hand's mean speed within 20 % of the
unlocked motion's, and no frame-to-frame move larger than its largest.

    python bench/beat_lock.py --data DATA [--weights W] [--limit 20] [--split test]

DATA is a folder of renders with exact labels (``python -m training.beat_renders``: each sample
``<split>/<n>/audio.flac`` with ``labels.npz``); the pieces and the soundfont of its test split
were never trained on. W is the official checkpoint (from ../shared/parity) when present, else
the project's neural weights. Alignment is measured against the beats of the levels the lock
chose, bar by bar (a network often beats a 4/4 in two, a fast 3/4 in one, and changes between
them) and, for reference, against every beat.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PARITY_GENERATOR = ROOT.parent / "shared" / "parity" / "M2SGAN_official_pretrained.pt"
GOAL_ALIGNMENT = 0.80
GOAL_SPEED_CHANGE = 0.20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a training.beat_renders output folder")
    parser.add_argument("--weights", default=str(PARITY_GENERATOR) if PARITY_GENERATOR.is_file() else "neural")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args()

    from core.audio.decode import load_audio
    from core.beats.grid import grid_from_times
    from core.neural.beat_lock import beat_alignment, beats_at_level, ictus_times, level_name, lock_to_beats
    from core.errors import ConductorError
    from core.generate import generate_motion
    from core.generate_options import GenerateOptions

    samples = sorted((Path(args.data) / args.split).glob("*/labels.npz"))[: args.limit]
    if not samples:
        sys.exit(f"no renders in {Path(args.data) / args.split}; build them with python -m training.beat_renders")
    rows = []
    for labels_path in samples:
        folder = labels_path.parent
        with np.load(labels_path) as labels:
            beats_s, place = labels["beats_s"], labels["beat_in_bar"]
        duration_s = load_audio(folder / "audio.flac").size / 22_050
        keep = beats_s <= duration_s
        try:
            grid = grid_from_times(beats_s[keep], [str(p + 1) for p in place[keep]], duration_s=duration_s)
        except ConductorError as error:  # e.g. notated beats faster than a grid allows
            print(f"  {folder.name}  skipped: {error}")
            continue
        free = generate_motion(folder / "audio.flac", GenerateOptions(weights=args.weights, device="cpu")).keypoints
        locked, levels = lock_to_beats(free, grid, fps=30.0)
        shown = beats_at_level(grid, levels)
        before, after = ictus_times(free), ictus_times(locked)

        def speed(keypoints: np.ndarray) -> float:
            return float(np.linalg.norm(np.diff(keypoints[:, 10], axis=0), axis=1).mean())

        rows.append(
            {
                "piece": folder.name,
                "level": level_name(levels),
                "changes": len(levels) - 1,
                "bars": int(grid.downbeats_s.size),
                "before": (beat_alignment(shown, before), beat_alignment(before, shown)),
                "after": (beat_alignment(shown, after), beat_alignment(after, shown)),
                "every_beat": (beat_alignment(grid.beats_s, after), beat_alignment(after, grid.beats_s)),
                "speed": speed(locked) / speed(free),
                "jump": float(np.abs(np.diff(locked, axis=0)).max() / np.abs(np.diff(free, axis=0)).max()),
            }
        )
        row = rows[-1]
        print(
            f"  {row['piece']}  {row['level']:<8} before {row['before'][0]:.2f}/{row['before'][1]:.2f}  "
            f"after {row['after'][0]:.2f}/{row['after'][1]:.2f}  every beat {row['every_beat'][0]:.2f}/"
            f"{row['every_beat'][1]:.2f}  speed x{row['speed']:.2f}  largest move x{row['jump']:.2f}",
            flush=True,
        )

    def mean(key: str, index: int) -> float:
        return float(np.nanmean([row[key][index] for row in rows]))

    print(
        f"\n{len(rows)} held-out renders, weights {Path(args.weights).name}, ictus alignment (sigma 0.1 s), "
        "music->motion / motion->music at the locked level:"
    )
    print(f"  unlocked {mean('before', 0):.3f} / {mean('before', 1):.3f}")
    mixed = [row for row in rows if row["changes"]]
    print(
        f"  {len(mixed)} of {len(rows)} change level within the piece, {sum(r['changes'] for r in mixed)} times in "
        f"{sum(r['bars'] for r in mixed)} bars"
    )
    for direction, index in (("music->motion", 0), ("motion->music", 1)):
        value = mean("after", index)
        print(f"  locked {direction}: {value:.3f} (goal >= {GOAL_ALIGNMENT}: ratio {value / GOAL_ALIGNMENT:.2f})")
    print(f"  locked, against every beat: {mean('every_beat', 0):.3f} / {mean('every_beat', 1):.3f}")
    worst_speed = max(abs(row["speed"] - 1) for row in rows)
    print(
        f"  mean speed change: worst {worst_speed:.1%} (goal <= {GOAL_SPEED_CHANGE:.0%}: ratio "
        f"{GOAL_SPEED_CHANGE / max(worst_speed, 1e-9):.2f})"
    )
    print(
        f"  largest frame-to-frame move, locked over unlocked: worst x{max(row['jump'] for row in rows):.3f} (goal <= 1)"
    )


if __name__ == "__main__":
    main()
