"""Look at the procedural conductor: its beat patterns beside the textbook's, its figures
against the goals of issue 16, and the 3D conductor rendered over one bar.

Usage:
    python bench/procedural_plot.py patterns OUT.png      # every meter, two bars, legato and staccato
    python bench/procedural_plot.py music MUSIC OUT.png [--start 0] [--seconds 12] [--seed 0] [--variation 1]
    python bench/procedural_plot.py strip OUT.png [--music MUSIC] [--seconds 8]   # six rendered frames (bpy)

``patterns`` conducts synthetic music (tones changing on every beat, sustained for legato,
short for staccato, at one steady mezzo-forte level) on the beats it was made with (the
tracker is measured in bench/beat_tracking.py) in each meter and draws the right wrist
over two bars with each ictus numbered, beside a sketch of the textbook diagram (after Rudolf,
*The Grammar of Conducting*), and prints the measured figures with their ratio to the goal:
5th-95th percentile ranges of the right wrist in shoulder widths (goal >= 1.5, the human
reference of the official M2S-GAN is lateral 1.79-2.66, vertical 1.48-2.39), the spread of the
ictus positions across the body and the ictus alignment. ``music`` draws the hands' height over
time with the tracked beats and both wrists' paths for any piece. ``strip`` builds the scene
with ``addon/headless_main.py generate`` (the demo piece by default) and renders six moments of
one bar with Cycles on the CPU (480x480, 8 samples: about a minute on two cores).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.audio.decode import load_audio  # noqa: E402
from core.beats.track import BeatTrack  # noqa: E402
from core.procedural.conductor import conduct  # noqa: E402
from core.motion.skeleton import JOINT_INDEX  # noqa: E402

SAMPLE_RATE_HZ = 22_050
GOAL_RANGE_SHOULDER_WIDTHS = 1.5
SCALE_HZ = (261.63, 293.66, 329.63, 349.23, 392.00, 440.00, 493.88, 523.25)  # C major, C4 to C5
PIECES = (
    ("1", 1, 150.0),
    ("2", 2, 100.0),
    ("3", 3, 100.0),
    ("4", 4, 100.0),
    ("5 = 2+3", 5, 100.0),
    ("5 = 3+2", 5, 100.0),
    ("6", 6, 100.0),
)

# Sketches of the textbook legato diagrams, in the conductor's view from behind (x to the
# conductor's right, y up): the path as points and where each beat's ictus lies on it.
TEXTBOOK = {
    "1": ([(0, 1), (0, 0.05), (0.05, 0), (0.06, 0.3), (0.02, 0.9), (0, 1)], [(0.05, 0)]),
    "2": (
        [(0, 1), (0, 0.05), (0.1, 0), (0.45, 0.35), (0.4, 0.2), (0.25, 0.05), (0.2, 0.1), (0, 0.8), (-0.1, 1), (0, 1)],
        [(0.05, 0), (0.25, 0.05)],
    ),
    "3": (
        [
            (0, 1),
            (0, 0.05),
            (0.05, 0),
            (-0.2, 0.3),
            (0.1, 0.05),
            (0.45, 0.05),
            (0.5, 0.3),
            (0.3, 0.2),
            (0.2, 0.12),
            (0.05, 0.7),
            (0, 1),
        ],
        [(0.05, 0), (0.45, 0.05), (0.2, 0.12)],
    ),
    "4": (
        [
            (0, 1),
            (0, 0.05),
            (0.05, 0),
            (-0.1, 0.3),
            (-0.3, 0.08),
            (-0.35, 0.3),
            (0.2, 0.05),
            (0.5, 0.05),
            (0.55, 0.3),
            (0.2, 0.18),
            (0.1, 0.15),
            (0.05, 0.7),
            (0, 1),
        ],
        [(0.05, 0), (-0.3, 0.08), (0.5, 0.05), (0.1, 0.15)],
    ),
    "5 = 2+3": (
        [
            (0, 1),
            (0, 0.05),
            (0.05, 0),
            (-0.1, 0.3),
            (-0.3, 0.08),
            (-0.35, 0.3),
            (0.1, 0.05),
            (0.25, 0.05),
            (0.3, 0.25),
            (0.5, 0.07),
            (0.55, 0.3),
            (0.2, 0.18),
            (0.1, 0.15),
            (0.05, 0.7),
            (0, 1),
        ],
        [(0.05, 0), (-0.3, 0.08), (0.25, 0.05), (0.5, 0.07), (0.1, 0.15)],
    ),
    "5 = 3+2": (
        [
            (0, 1),
            (0, 0.05),
            (0.05, 0),
            (-0.05, 0.25),
            (-0.15, 0.06),
            (-0.25, 0.25),
            (-0.35, 0.08),
            (-0.4, 0.3),
            (0.2, 0.05),
            (0.5, 0.05),
            (0.55, 0.3),
            (0.2, 0.18),
            (0.1, 0.15),
            (0.05, 0.7),
            (0, 1),
        ],
        [(0.05, 0), (-0.15, 0.06), (-0.35, 0.08), (0.5, 0.05), (0.1, 0.15)],
    ),
    "6": (
        [
            (0, 1),
            (0, 0.05),
            (0.05, 0),
            (-0.05, 0.25),
            (-0.15, 0.06),
            (-0.25, 0.25),
            (-0.35, 0.08),
            (-0.4, 0.3),
            (0.2, 0.05),
            (0.35, 0.05),
            (0.4, 0.25),
            (0.5, 0.07),
            (0.55, 0.3),
            (0.2, 0.18),
            (0.1, 0.15),
            (0.05, 0.7),
            (0, 1),
        ],
        [(0.05, 0), (-0.15, 0.06), (-0.35, 0.08), (0.35, 0.05), (0.5, 0.07), (0.1, 0.15)],
    ),
}


def played_bars(
    meter: int, bpm: float, seconds: float, *, staccato: bool, start_s: float = 1.5, strong: tuple[int, ...] = (0,)
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic music at one steady level: a tone changing pitch on every beat (sustained and
    joined for legato, a third of the beat long for staccato) over a bass note a bar long; the
    places in ``strong`` accented.

    Returns (samples at 22,050 Hz, beat times in seconds).
    """
    period_s = 60.0 / bpm
    beats_s = np.arange(start_s, seconds - 1.0, period_s)
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    samples = np.zeros(t.size)
    rng = np.random.default_rng(meter)
    step = 3
    for i, beat in enumerate(beats_s):
        step = int(np.clip(step + rng.choice([-2, -1, 1, 2]), 0, len(SCALE_HZ) - 1))
        length_s = (0.3 if staccato else 1.0) * period_s
        inside = (t >= beat) & (t < beat + length_s + 0.03)
        local = t[inside] - beat
        attack_s = 0.004 if staccato else 0.04
        envelope = np.minimum(local / attack_s, 1.0) * np.clip((beat + length_s + 0.03 - t[inside]) / 0.03, 0, 1)
        level = 0.25 * (1.3 if i % meter in strong else 1.0)
        tone = sum(np.sin(2 * np.pi * n * SCALE_HZ[step] * local) / n for n in range(1, 5))
        samples[inside] += level * envelope * tone
        if i % meter == 0:  # a bass note for the bar
            bar = (t >= beat) & (t < beat + meter * period_s * (0.3 if staccato else 1.0))
            samples[bar] += 0.12 * np.sin(2 * np.pi * 65.41 * (t[bar] - beat)) * np.minimum((t[bar] - beat) / 0.01, 1)
    samples[t > beats_s[-1] + period_s] *= 0.0  # the last note ends a beat after the last beat
    return (samples / np.abs(samples).max() * 0.8).astype(np.float32), beats_s


def known_beats(beats_s: np.ndarray, meter: int) -> BeatTrack:
    """The beats the music was made with, in bars of ``meter`` from the first: the figures
    show the patterns, not the beat tracker."""
    place = np.arange(beats_s.size) % meter
    return BeatTrack(
        beats_s=beats_s,
        downbeats_s=beats_s[place == 0],
        bar_position=place,
        meter=meter,
        tempo_bpm=60.0 / float(np.median(np.diff(beats_s))),
    )


def shoulder_width(keypoints: np.ndarray) -> float:
    return float(
        np.median(
            np.linalg.norm(
                keypoints[:, JOINT_INDEX["left_shoulder"]] - keypoints[:, JOINT_INDEX["right_shoulder"]], axis=1
            )
        )
    )


def wrist_ranges(keypoints: np.ndarray, frames: slice = slice(None)) -> tuple[float, float]:
    """5th-95th percentile range of the right wrist, lateral and vertical, in shoulder widths."""
    wrist = keypoints[frames, JOINT_INDEX["right_wrist"]]
    low, high = np.percentile(wrist, [5, 95], axis=0)
    return tuple((high - low) / shoulder_width(keypoints))


def beat_places(motion) -> np.ndarray:
    """Each tracked beat's place in its bar [shape=(B,)]: beats since the last tracked
    downbeat (-1 before the first)."""
    beats = np.asarray(motion.extra["beats_s"])
    downbeat = np.isin(beats, motion.extra["downbeats_s"])
    last = np.maximum.accumulate(np.where(downbeat, np.arange(beats.size), -1))
    return np.where(last >= 0, np.arange(beats.size) - last, -1)


def ictus_by_place(motion) -> np.ndarray:
    """Median right-wrist position [shape=(places, 2)] at each place's ictus."""
    beats, place = np.asarray(motion.extra["beats_s"]), beat_places(motion)
    frames = motion.frames_at(beats)
    wrist = motion.keypoints[:, JOINT_INDEX["right_wrist"]]
    return np.array([np.median(wrist[frames[place == p]], axis=0) for p in range(max(place.max() + 1, 1))])


def conductor_view(keypoints: np.ndarray, frames) -> tuple[np.ndarray, np.ndarray]:
    """The right wrist as the conductor sees it from behind, in shoulder widths from where
    beat 1 falls: x to their right, y up."""
    from core.procedural.patterns import BEAT_PLANE_Y, PATTERN_CENTRE_X

    wrist = keypoints[frames, JOINT_INDEX["right_wrist"]]
    sw = shoulder_width(keypoints)
    return (PATTERN_CENTRE_X - wrist[..., 0]) / sw, (BEAT_PLANE_Y - wrist[..., 1]) / sw


def patterns(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.interpolate import make_interp_spline

    from training.metrics import beat_alignment, ictus_beats

    figure, axes = plt.subplots(len(PIECES), 3, figsize=(11, 3.3 * len(PIECES)))
    print("meter      style     lateral  vertical (shoulder widths, 5-95 %; goal >= 1.5)  ictus spread  alignment")
    for row, (name, meter, bpm) in zip(axes, PIECES):
        points, ictus = TEXTBOOK[name]
        points = np.array(points, dtype=float)
        curve = make_interp_spline(np.arange(len(points)), points, k=2)(np.linspace(0, len(points) - 1, 300))
        row[0].plot(curve[:, 0], curve[:, 1], color="0.3")
        for number, (x, y) in enumerate(ictus, 1):
            row[0].plot(x, y, "o", color="tab:red")
            row[0].annotate(str(number), (x, y), textcoords="offset points", xytext=(4, -12))
        row[0].set_title(f"{name}: textbook (after Rudolf)")
        row[0].set(xlim=(-0.6, 0.7), ylim=(-0.15, 1.1))
        for column, staccato in ((1, False), (2, True)):
            strong = (0, 2) if name == "5 = 2+3" else (0, 3) if name == "5 = 3+2" else (0,)
            samples, beats_s = played_bars(meter, bpm, 14.0, staccato=staccato, strong=strong)
            motion = conduct(samples, seed=0, variation=0.0, beats=known_beats(beats_s, meter))
            kp = motion.keypoints
            downbeats = np.asarray(motion.extra["downbeats_s"])
            start_s = downbeats[downbeats > 4.0][0]
            shown = slice(int(motion.frames_at(start_s)), int(motion.frames_at(start_s + 2 * meter * 60.0 / bpm)) + 1)
            x, y = conductor_view(kp, shown)
            row[column].plot(x, y, color="tab:blue" if not staccato else "tab:orange", lw=1.2)
            beats, places = np.asarray(motion.extra["beats_s"]), beat_places(motion)
            for beat, place in zip(beats, places):
                if start_s - 1e-3 <= beat < start_s + meter * 60.0 / bpm - 1e-3:
                    px, py = conductor_view(kp, int(motion.frames_at(beat)))
                    row[column].plot(px, py, "o", color="tab:red")
                    row[column].annotate(str(place + 1), (px, py), textcoords="offset points", xytext=(4, -12))
            lateral, vertical = wrist_ranges(kp, slice(int(motion.frames_at(3.0)), int(motion.frames_at(beats_s[-1]))))
            spread = np.ptp(ictus_by_place(motion)[:, 0]) / shoulder_width(kp)
            alignment = beat_alignment(beats_s, ictus_beats(kp))
            style = "staccato" if staccato else "legato"
            print(
                f"{name:9s}  {style:8s}  {lateral:5.2f} ({lateral / GOAL_RANGE_SHOULDER_WIDTHS:.2f}x)  "
                f"{vertical:5.2f} ({vertical / GOAL_RANGE_SHOULDER_WIDTHS:.2f}x)  {spread:11.2f}   {alignment:.3f}"
                f"   ({motion.extra['pattern']}, detected {max(motion.extra['articulation'], key=motion.extra['articulation'].get)})"
            )
            row[column].set_title(
                f"{name}: conducted {style}, 2 bars\nlateral {lateral:.2f}, vertical {vertical:.2f} shoulder widths"
            )
            row[column].set_xlabel("conductor's right (shoulder widths)")
        for axis in row:
            axis.set_aspect("equal")
            axis.grid(alpha=0.3)
        row[1].set_xlim(-1.4, 1.9)
        row[2].set_xlim(-1.4, 1.9)
        row[1].set_ylim(-0.4, 2.2)
        row[2].set_ylim(-0.4, 2.2)
    figure.tight_layout()
    figure.savefig(out, dpi=70)
    print(f"wrote {out}")


def music(path: str, out: Path, start_s: float, seconds: float, seed: int, variation: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    motion = conduct(load_audio(path), seed=seed, variation=variation)
    keypoints = motion.keypoints
    times_s = motion.times_s
    shown = (times_s >= start_s) & (times_s <= start_s + seconds)
    figure, (timeline, image) = plt.subplots(2, 1, figsize=(12, 10), gridspec_kw={"height_ratios": [1, 1.4]})
    for beat in motion.extra["beats_s"]:
        if start_s <= beat <= start_s + seconds:
            strong = beat in motion.extra["downbeats_s"]
            timeline.axvline(beat, color="0.3" if strong else "0.8", lw=1.5 if strong else 0.7, zorder=0)
    for name, colour in (("right_wrist", "tab:red"), ("left_wrist", "tab:blue"), ("nose", "tab:green")):
        timeline.plot(times_s[shown], 1.0 - keypoints[shown, JOINT_INDEX[name], 1], color=colour, label=name)
    timeline.set(xlabel="time (s)", ylabel="height (1 - image y)")
    timeline.legend(loc="upper right")
    lateral, vertical = wrist_ranges(keypoints)
    timeline.set_title(
        f"{Path(path).name}: meter {motion.extra['meter']} ({motion.extra['pattern']}), "
        f"{motion.extra['tempo_bpm']:.0f} bpm, seed {seed}, variation {variation}; right wrist "
        f"{lateral:.2f} x {vertical:.2f} shoulder widths; {motion.extra['articulation']}"
    )
    for name, colour in (
        ("right_wrist", "tab:red"),
        ("left_wrist", "tab:blue"),
        ("right_elbow", "salmon"),
        ("left_elbow", "lightblue"),
    ):
        image.plot(*keypoints[shown, JOINT_INDEX[name]].T, color=colour, lw=0.8, label=name)
    for name in JOINT_INDEX:
        image.scatter(*keypoints[0, JOINT_INDEX[name]], color="k", s=10)
    image.set(xlim=(0.15, 0.85), ylim=(0.85, 0.25), aspect="equal")  # image y points down
    image.legend(loc="lower right")
    image.set_title(f"paths in the image ({start_s:g} to {start_s + seconds:g} s), black: pose at frame 0")
    figure.tight_layout()
    figure.savefig(out, dpi=80)
    print(f"wrote {out}")


def strip(out: Path, music_path: str, seconds: float) -> None:
    """Six frames over one bar of the 3D conductor (the bar from the first downbeat after
    ``seconds``), rendered headless with Cycles: each ictus, the rebound after beat 1 and the
    top of the preparation for the next bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    motion = conduct(load_audio(music_path), seed=0)
    beats, places = np.asarray(motion.extra["beats_s"]), beat_places(motion)
    first = int(np.flatnonzero((places == 0) & (beats > seconds))[0])
    meter = int(motion.extra["meter"])
    bar = beats[first : first + meter + 1]
    period_s = float(np.median(np.diff(bar)))
    moments = [(bar[0], "beat 1: ictus"), (bar[0] + 0.45 * period_s, "rebound of 1")]
    moments += [(bar[i], f"beat {i + 1}: ictus") for i in range(1, meter)]
    moments += [(bar[-1] - 0.5 * period_s, "preparing the next 1")]
    moments = moments[:6]
    python, headless = sys.executable, str(ROOT / "addon" / "headless_main.py")
    images = []
    with tempfile.TemporaryDirectory() as folder:
        blend = Path(folder) / "scene.blend"
        subprocess.run(
            [python, headless, "generate", music_path, "-o", str(blend), "--weights", "procedural"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for time_s, _ in moments:
            png = Path(folder) / f"frame_{time_s:.3f}.png"
            # Blender's frame 1 is at time 0.
            subprocess.run(
                [
                    python,
                    headless,
                    "render",
                    str(blend),
                    "-o",
                    str(png),
                    "--frame",
                    str(int(motion.frames_at(time_s)) + 1),  # the take from frame 1
                    "--resolution",
                    "480x480",
                    "--samples",
                    "8",
                    "--no-denoise",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            images.append(plt.imread(png)[110:390, 100:380])  # the upper body
    figure, axes = plt.subplots(1, len(images), figsize=(3 * len(images), 3.4))
    for axis, image, (time_s, label) in zip(axes, images, moments):
        axis.imshow(image)
        axis.set_axis_off()
        axis.set_title(f"{time_s:.2f} s, {label}", fontsize=10)
    figure.suptitle(f"One bar in {meter} of {Path(music_path).name}, rendered headless (Cycles, 8 samples)")
    figure.tight_layout()
    figure.savefig(out, dpi=80)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("patterns", help="every meter beside the textbook diagram, with the figures")
    command.add_argument("out", type=Path)
    command = commands.add_parser("music", help="the hands of one piece over time and in the image")
    command.add_argument("music")
    command.add_argument("out", type=Path)
    command.add_argument("--start", type=float, default=0.0, help="start of the plots, seconds")
    command.add_argument("--seconds", type=float, default=12.0, help="length of the plots")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--variation", type=float, default=1.0)
    command = commands.add_parser("strip", help="six rendered frames of one bar (needs the bpy module)")
    command.add_argument("out", type=Path)
    command.add_argument("--music", default=str(ROOT / "core" / "assets" / "demo_piece.ogg"))
    command.add_argument("--seconds", type=float, default=8.0, help="the bar starts at the first downbeat after this")
    args = parser.parse_args()
    if args.command == "patterns":
        patterns(args.out)
    elif args.command == "music":
        music(args.music, args.out, args.start, args.seconds, args.seed, args.variation)
    else:
        strip(args.out, args.music, args.seconds)


if __name__ == "__main__":
    main()
