"""ConductorMotion100-layout data: checked, memory-mapped samples, the clips both stages train
on, the epoch order, and a builder that makes such a dataset from (audio, motion) pairs.

Layout::

    <root>/{train,val,test}/<sample>/mel.npy     (T90, 128) float, 90 frames per second, in [0, 1]
    <root>/{train,val,test}/<sample>/motion.npy  (T30, 13, 2) float, 30 frames per second, in [0, 1]

Shapes and rates are checked when a split is opened (only the .npy headers are read); values
(finite, in range) are checked on every window read, so opening 100 hours costs no RAM and no
full pass. Every problem raises :class:`core.errors.ConductorError` naming the file.

Randomness never comes from a global generator: every clip offset is drawn from a generator
seeded by the item's key, and the epoch order from (seed, epoch). The same key gives the same
clip in any process, which makes resuming and multi-process runs reproducible.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from core.errors import ConductorError
from core.audio.mel import MEL_FPS
from core.motion.keypoints import MOTION_FPS

SPLITS = ("train", "val", "test")
MEL_BANDS = 128
JOINTS = 13
RATE_TOLERANCE_S = 0.1  # mel and motion may differ in length by this much
MEL_RANGE = (-1e-3, 1.0 + 1e-3)  # the official feature lies in [0, 1]
MOTION_RANGE = (-0.5, 1.5)  # normalised image coordinates, a margin for joints off-frame


@dataclasses.dataclass(frozen=True)
class Sample:
    """One sample folder, memory-mapped; ``frames30`` usable motion frames (mel: 3 per frame)."""

    name: str
    folder: Path
    mel: np.ndarray  # (T90, 128) memmap
    motion: np.ndarray  # (T30, 13, 2) memmap
    frames30: int

    @property
    def seconds(self) -> float:
        return self.frames30 / MOTION_FPS


def open_sample(folder: Path) -> Sample:
    """Memory-map and check one sample folder (shapes, dtypes and the 90 Hz / 30 Hz rates)."""
    arrays = {}
    for name in ("mel.npy", "motion.npy"):
        path = folder / name
        if not path.is_file():
            raise ConductorError(f"'{path}' is missing; each sample folder needs mel.npy and motion.npy.")
        try:
            arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ConductorError(
                f"'{path}' is not a readable .npy array ({error}); write it again with numpy.save."
            ) from error
        if not np.issubdtype(arrays[name].dtype, np.floating):
            raise ConductorError(f"'{path}' holds {arrays[name].dtype} values; save it as float32.")
    mel, motion = arrays["mel.npy"], arrays["motion.npy"]
    if mel.ndim != 2 or mel.shape[1] != MEL_BANDS:
        raise ConductorError(
            f"'{folder / 'mel.npy'}' is shaped {mel.shape}; expected (frames, {MEL_BANDS}) at {MEL_FPS} Hz."
        )
    if motion.ndim != 3 or motion.shape[1:] != (JOINTS, 2):
        raise ConductorError(
            f"'{folder / 'motion.npy'}' is shaped {motion.shape}; expected (frames, {JOINTS}, 2) at {MOTION_FPS} Hz."
        )
    mel_s, motion_s = mel.shape[0] / MEL_FPS, motion.shape[0] / MOTION_FPS
    if abs(mel_s - motion_s) > RATE_TOLERANCE_S:
        raise ConductorError(
            f"'{folder}': mel.npy covers {mel_s:.2f} s at {MEL_FPS} Hz but motion.npy {motion_s:.2f} s at "
            f"{MOTION_FPS} Hz; they must cover the same time (check the frame rates)."
        )
    frames30 = min(motion.shape[0], mel.shape[0] // 3)
    return Sample(name=folder.name, folder=folder, mel=mel, motion=motion, frames30=frames30)


def check_values(sample: Sample, mel: np.ndarray, motion: np.ndarray) -> None:
    """Raise if a window read from ``sample`` holds NaN, infinities or out-of-range values."""
    for name, array, (low, high) in (("mel.npy", mel, MEL_RANGE), ("motion.npy", motion, MOTION_RANGE)):
        if not np.all(np.isfinite(array)):
            raise ConductorError(f"'{sample.folder / name}' contains NaN or infinite values; regenerate it.")
        lowest, highest = float(array.min()), float(array.max())
        if lowest < low or highest > high:
            raise ConductorError(
                f"'{sample.folder / name}' has values from {lowest:.3g} to {highest:.3g}, outside [{low:g}, {high:g}]; "
                + (
                    "use the official normalised mel (core.audio.mel.mel_90hz)."
                    if name == "mel.npy"
                    else "keypoints must be normalised image coordinates in [0, 1]."
                )
            )


class ConductorMotionSplit:
    """One split of a ConductorMotion100-layout dataset, cut into windows of ``window_s`` seconds.

    Parameters
    ----------
    root : path-like
        The dataset root (holding train/, val/, test/).
    split : str
        "train", "val" or "test".
    window_s : int > 0
        Samples are cut into non-overlapping windows of this many seconds; a shorter remainder
        (and a sample shorter than one window) is not used.
    """

    def __init__(self, root: str | os.PathLike[str], split: str, *, window_s: int) -> None:
        if split not in SPLITS:
            raise ConductorError(f"Unknown split '{split}'; use one of {', '.join(SPLITS)}.")
        folder = Path(root).expanduser() / split
        if not folder.is_dir():
            raise ConductorError(f"'{folder}' does not exist; the dataset root needs {'/, '.join(SPLITS)}/ folders.")
        self.samples = [open_sample(f) for f in sorted(folder.iterdir()) if f.is_dir()]
        if not self.samples:
            raise ConductorError(f"'{folder}' holds no sample folders.")
        self.window_frames = window_s * MOTION_FPS
        self.windows = [
            (i, k * self.window_frames)
            for i, s in enumerate(self.samples)
            for k in range(s.frames30 // self.window_frames)
        ]
        if not self.windows:
            raise ConductorError(
                f"No sample in '{folder}' is {window_s} s long; give longer samples or a shorter window."
            )

    def __len__(self) -> int:
        return len(self.windows)

    def read(self, sample_index: int, start30: int, frames30: int) -> tuple[np.ndarray, np.ndarray]:
        """Copy ``frames30`` motion frames from ``start30`` and the matching 3x mel frames.

        Returns
        -------
        mel : np.ndarray [shape=(3 * frames30, 128), float32]
        motion : np.ndarray [shape=(frames30, 13, 2), float32]
        """
        sample = self.samples[sample_index]
        if start30 < 0 or start30 + frames30 > sample.frames30:
            raise IndexError(f"{sample.name}: frames {start30}..{start30 + frames30} outside 0..{sample.frames30}")
        mel = np.array(sample.mel[3 * start30 : 3 * (start30 + frames30)], dtype=np.float32)
        motion = np.array(sample.motion[start30 : start30 + frames30], dtype=np.float32)
        check_values(sample, mel, motion)
        return mel, motion


# --------------------------------------------------------------------------- stage datasets
def item_rng(*key: int) -> np.random.Generator:
    """A generator determined by integers only (seed, epoch, position ...)."""
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in key])


class WindowDataset(torch.utils.data.Dataset):
    """Stage 2 (and evaluation): whole windows. Key: window index.

    Item: ``mel`` (90 S, 128) and ``motion`` (30 S, 13, 2) float32 arrays, S = window seconds.
    """

    def __init__(self, split: ConductorMotionSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: int | tuple[int, ...]) -> dict[str, np.ndarray]:
        index = key[0] if isinstance(key, tuple) else key
        sample_index, start = self.split.windows[index]
        mel, motion = self.split.read(sample_index, start, self.split.window_frames)
        return {"mel": mel, "motion": motion}


@dataclasses.dataclass(frozen=True)
class PairSpec:
    """How stage 1 draws its two clips from a window (all in seconds)."""

    clip_s: int
    hard_gap_s: float
    shift_min_s: float
    shift_max_s: float


class ClipPairDataset(torch.utils.data.Dataset):
    """Stage 1: two clips of one window. Key: (window index, negative kind index, seed ...).

    Clip 1 starts anywhere in the window. Clip 2 depends on the negatives:
    ``easy`` - a copy of clip 1 (the training step pairs clip 1 with other batch items);
    ``hard`` - the same window, starting at least ``hard_gap_s`` away;
    ``super_hard`` - the same window shifted by ``shift_min_s`` .. ``shift_max_s`` either way.

    Item: ``mel1``, ``mel2`` (90 C, 128) and ``motion1``, ``motion2`` (30 C, 13, 2), C = clip_s.
    """

    KINDS = ("easy", "hard", "super_hard")

    def __init__(self, split: ConductorMotionSplit, spec: PairSpec) -> None:
        self.split, self.spec = split, spec
        self.clip = spec.clip_s * MOTION_FPS
        self.room = split.window_frames - self.clip  # latest start, in motion frames
        if self.room < 0:
            raise ConductorError(f"Clips of {spec.clip_s} s do not fit {split.window_frames // MOTION_FPS}-s windows.")

    def __len__(self) -> int:
        return len(self.split)

    def partners(self, kind: str, first: int) -> np.ndarray:
        """Allowed starts of clip 2 (motion frames) when clip 1 starts at ``first``."""
        if kind == "easy":
            return np.array([first])
        if kind == "hard":
            gap = int(math.ceil(self.spec.hard_gap_s * MOTION_FPS))
            return np.concatenate([np.arange(0, first - gap + 1), np.arange(first + gap, self.room + 1)])
        shifts = np.arange(
            int(round(self.spec.shift_min_s * MOTION_FPS)), int(round(self.spec.shift_max_s * MOTION_FPS)) + 1
        )
        return np.concatenate([first - shifts[first - shifts >= 0], first + shifts[first + shifts <= self.room]])

    def fits(self, kind: str) -> bool:
        """Whether ``kind`` negatives can be drawn at all with these clip and window lengths."""
        return any(self.partners(kind, f).size for f in range(self.room + 1))

    def draw_starts(self, rng: np.random.Generator, kind: str) -> tuple[int, int]:
        """Clip 1 anywhere it has a partner, clip 2 among its partners (motion frames)."""
        firsts = (
            [f for f in range(self.room + 1) if self.partners(kind, f).size] if kind != "easy" else range(self.room + 1)
        )
        if not firsts:
            raise ConductorError(
                f"No {kind} negative fits {self.spec.clip_s}-s clips in {self.split.window_frames // MOTION_FPS}-s windows "
                f"(hard gap {self.spec.hard_gap_s} s, shifts {self.spec.shift_min_s}-{self.spec.shift_max_s} s)."
            )
        first = int(firsts[int(rng.integers(0, len(firsts)))])
        return first, int(rng.choice(self.partners(kind, first)))

    def __getitem__(self, key: tuple[int, ...]) -> dict[str, np.ndarray]:
        index, kind_index, *seed = key
        kind = self.KINDS[kind_index]
        rng = item_rng(index, kind_index, *seed)
        sample_index, window_start = self.split.windows[index]
        first, second = self.draw_starts(rng, kind)
        mel1, motion1 = self.split.read(sample_index, window_start + first, self.clip)
        if second == first:
            mel2, motion2 = mel1.copy(), motion1.copy()
        else:
            mel2, motion2 = self.split.read(sample_index, window_start + second, self.clip)
        return {"mel1": mel1, "motion1": motion1, "mel2": mel2, "motion2": motion2}


# --------------------------------------------------------------------------- epoch order
def epoch_batches(item_count: int, batch_size: int, *, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's shuffled item order cut into global batches (a short last batch is dropped,
    so every rank and every micro-batch gets the same number of items)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(item_count, generator=generator).tolist()
    return [order[i : i + batch_size] for i in range(0, item_count - batch_size + 1, batch_size)]


def rank_chunks(batch: list, *, rank: int, world: int, micro_batches: int) -> list[list]:
    """This rank's micro-batches of a global batch: the batch is cut into world * micro_batches
    equal chunks and rank r takes chunks r * micro_batches ... (r + 1) * micro_batches - 1.
    One process with micro_batches = k sees exactly the chunks that k ranks see."""
    chunks = world * micro_batches
    if len(batch) % chunks:
        raise ValueError(f"a batch of {len(batch)} does not split into {world} ranks x {micro_batches} micro-batches")
    size = len(batch) // chunks
    mine = batch[rank * micro_batches * size : (rank + 1) * micro_batches * size]
    return [mine[i : i + size] for i in range(0, len(mine), size)]


def collate(items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack items into tensors: ``mel*`` (N, T90, 128), ``motion*`` (N, T30, 13, 2)."""
    return {name: torch.from_numpy(np.stack([item[name] for item in items])) for name in items[0]}


def make_loader(dataset: torch.utils.data.Dataset, chunks: list[list], *, workers: int) -> torch.utils.data.DataLoader:
    """A loader that yields one collated micro-batch per entry of ``chunks`` (lists of item
    keys), in that order; ``workers`` processes read ahead."""
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=chunks, collate_fn=collate, num_workers=workers, persistent_workers=False
    )


# --------------------------------------------------------------------------- builder
def build_dataset(
    pairs: Iterable[tuple[str | os.PathLike[str], np.ndarray | str | os.PathLike[str]]],
    root: str | os.PathLike[str],
    split: str,
    *,
    motion_fps: float = MOTION_FPS,
    sample_s: float | None = 60.0,
    names: Iterable[str] | None = None,
) -> list[Path]:
    """Write (audio, motion) pairs as ConductorMotion100 sample folders.

    Parameters
    ----------
    pairs : iterable of (audio path, motion)
        motion: keypoints [shape=(T, 13, 2)] in normalised image coordinates at ``motion_fps``,
        as an array or a .npy path; it must start with the audio.
    root : path-like
        Dataset root; folders are written under ``root/split/``.
    motion_fps : float > 0
        Frame rate of the given motion; it is resampled linearly to 30 Hz.
    sample_s : float or None
        Cut each pair into samples of this many seconds (ConductorMotion100 uses 60); a shorter
        remainder is dropped. None keeps each pair whole.
    names : iterable of str, optional
        Folder name per pair (default ``00000``, ``00001``, ...); cut pieces add ``_k``.

    Returns
    -------
    list of Path
        The sample folders written.
    """
    from core.audio.decode import load_audio
    from core.audio.mel import mel_90hz
    from core.motion.keypoints import sample_keypoints

    if split not in SPLITS:
        raise ConductorError(f"Unknown split '{split}'; use one of {', '.join(SPLITS)}.")
    names = list(names) if names is not None else None
    written = []
    for number, (audio_path, motion) in enumerate(pairs):
        if not isinstance(motion, np.ndarray):
            motion = np.load(Path(motion), allow_pickle=False)
        motion = np.asarray(motion, dtype=np.float32)
        if motion.ndim != 3 or motion.shape[1:] != (JOINTS, 2):
            raise ConductorError(
                f"The motion paired with '{audio_path}' is shaped {motion.shape}; expected (frames, 13, 2)."
            )
        mel = mel_90hz(load_audio(audio_path))  # (T90, 128)
        seconds = min(mel.shape[0] / MEL_FPS, motion.shape[0] / motion_fps)
        frames30 = int(math.floor(seconds * MOTION_FPS + 1e-6))
        if motion_fps != MOTION_FPS:
            motion = sample_keypoints(motion, motion_fps, np.arange(frames30) / MOTION_FPS)
        piece = int(round(sample_s * MOTION_FPS)) if sample_s else frames30
        base = names[number] if names is not None else f"{number:05d}"
        for k, start in enumerate(range(0, frames30 - piece + 1, piece)):
            folder = Path(root) / split / (base if not sample_s or frames30 < 2 * piece else f"{base}_{k}")
            folder.mkdir(parents=True, exist_ok=True)
            np.save(folder / "mel.npy", np.ascontiguousarray(mel[3 * start : 3 * (start + piece)], dtype=np.float32))
            np.save(folder / "motion.npy", np.ascontiguousarray(motion[start : start + piece], dtype=np.float32))
            written.append(folder)
    return written


# --------------------------------------------------------------------------- synthetic data
def write_synthetic_dataset(
    root: str | os.PathLike[str],
    *,
    counts: dict[str, int] | None = None,
    seconds: tuple[float, float] = (30.0, 40.0),
    seed: int = 0,
) -> Path:
    """A small dataset in the ConductorMotion100 layout whose motion follows its music, for tests
    and benchmarks.

    Each sample has its own tempo (70-150 beats per minute). The mel holds a broadband click
    decaying over 0.1 s at every beat plus a steady band-limited tone; the hands swing so that
    the wrists reach their lowest point (and stop) on the beat, with an amplitude following the
    click's loudness. A net that learns the music-motion relation sees the beat in both.

    Returns
    -------
    Path
        ``root``, holding train/, val/ and test/.
    """
    counts = counts or {"train": 6, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    bands = np.arange(MEL_BANDS)
    for split, count in counts.items():
        for number in range(count):
            duration = float(rng.uniform(*seconds))
            frames30 = int(duration * MOTION_FPS)
            t90 = np.arange(3 * frames30) / MEL_FPS
            t30 = np.arange(frames30) / MOTION_FPS
            period = 60.0 / rng.uniform(70, 150)
            offset = rng.uniform(0, period)
            loudness = 0.6 + 0.4 * np.sin(2 * np.pi * t90 / rng.uniform(6, 12)) ** 2
            since_beat = np.mod(t90 - offset, period)
            click = np.exp(-since_beat / 0.1) * loudness  # (T90,)
            tone = np.exp(-((bands - rng.uniform(40, 100)) ** 2) / 50.0)  # (128,)
            mel = 0.15 + 0.5 * click[:, None] * rng.uniform(0.6, 1.0, MEL_BANDS) + 0.3 * tone[None, :]
            mel += rng.normal(0, 0.02, mel.shape)
            phase = 2 * np.pi * (t30 - offset) / period
            swing = 0.08 * loudness[::3][:frames30]
            motion = np.tile(
                np.array(
                    [
                        [0.5, 0.2],
                        [0.48, 0.18],
                        [0.52, 0.18],
                        [0.46, 0.19],
                        [0.54, 0.19],
                        [0.42, 0.32],
                        [0.58, 0.32],
                        [0.38, 0.45],
                        [0.62, 0.45],
                        [0.35, 0.5],
                        [0.65, 0.5],
                        [0.44, 0.7],
                        [0.56, 0.7],
                    ]
                ),
                (frames30, 1, 1),
            )
            for wrist, elbow, side in ((9, 7, -1), (10, 8, 1)):
                motion[:, wrist, 0] += side * 0.05 * np.sin(phase)
                motion[:, wrist, 1] -= swing * np.cos(phase)  # lowest (largest y) on the beat
                motion[:, elbow, 1] -= 0.4 * swing * np.cos(phase)
            motion += rng.normal(0, 0.002, motion.shape)
            folder = Path(root) / split / f"{split}_{number:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            np.save(folder / "mel.npy", np.clip(mel, 0, 1).astype(np.float32))
            np.save(folder / "motion.npy", motion.astype(np.float32))
    return Path(root)
