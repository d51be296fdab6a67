"""Batch bookkeeping, without Blender: which music files a batch takes, what their outputs are
called, and how ``--shard i/N`` splits the list between machines.

The same command on any machine gives the same ordered list, so N machines can each take every
N-th file (``--shard i/N``) without talking to each other; a file whose outputs all exist is
skipped, so a stopped batch resumes where it was, unless its record says they were made from
other music or with other settings (then they are made again).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

from .audio.decode import MUSIC_SUFFIXES, file_sha256
from .errors import ConductorError
from .outputs import write_atomically

BATCH_FORMATS = ("blend", "mp4", "bvh", "glb", "gltf", "fbx", "npz", "json", "csv")


def parse_shard(text: str) -> tuple[int, int]:
    """ "I/N" -> (I, N) with 0 <= I < N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConductorError(f"--shard '{text}' is not I/N, e.g. 0/4 for the first of four machines.") from None
    if count < 1 or not 0 <= index < count:
        raise ConductorError(f"--shard {text}: I must be from 0 to N-1 and N at least 1.")
    return index, count


def parse_formats(text: str) -> list[str]:
    """The outputs a batch writes per file, from "blend,mp4,...": known names, each once."""
    formats = list(dict.fromkeys(part.strip().lower().lstrip(".") for part in text.split(",") if part.strip()))
    unknown = [fmt for fmt in formats if fmt not in BATCH_FORMATS]
    if unknown or not formats:
        raise ConductorError(f"--formats must name some of {', '.join(BATCH_FORMATS)}, got '{text}'.")
    return formats


def collect_inputs(inputs: Sequence[Path], lists: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(music files in a fixed order, files skipped as not music).

    A folder gives its music files (by suffix, sorted by name, hidden files left out); a file
    named on the command line or in a list is taken whatever it is, so a bad one is reported.
    The order is the arguments' order, then the lists', each file once: the same command on
    any machine gives the same list, which is what ``--shard`` splits. A named file or folder
    that does not exist is refused before anything runs.
    """
    files: list[Path] = []
    ignored: list[Path] = []
    for item in inputs:
        if item.is_dir():
            for entry in sorted(item.iterdir(), key=lambda p: p.name):
                if entry.name.startswith(".") or entry.is_dir():
                    continue
                (files if entry.suffix.lower() in MUSIC_SUFFIXES else ignored).append(entry)
        elif item.exists():
            files.append(item)
        else:
            raise ConductorError(f"'{item}' does not exist; name music files or folders of them.")
    for list_path in lists:
        try:
            lines = list_path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise ConductorError(f"List file '{list_path}' could not be read ({error}); check the path.") from error
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                files.append(list_path.parent / Path(line).expanduser())
    unique = list(dict.fromkeys(files))
    return unique, ignored


def output_names(files: Sequence[Path]) -> list[str]:
    """An output name per file: its stem, with "-2", "-3", ... where stems repeat (in list order)."""
    seen: dict[str, int] = {}
    names = []
    for path in files:
        key = path.stem.lower()  # case-insensitive file systems too
        seen[key] = seen.get(key, 0) + 1
        names.append(path.stem if seen[key] == 1 else f"{path.stem}-{seen[key]}")
    return names


@dataclasses.dataclass(frozen=True)
class BatchItem:
    """One file of this shard: where it is in the whole list, and the outputs it gets."""

    position: int
    music: Path
    outputs: dict[str, Path]  # format -> file


def plan_batch(
    files: Sequence[Path], formats: Sequence[str], output_folder: Path, *, shard: tuple[int, int]
) -> list[BatchItem]:
    """This shard's files (every N-th of the ordered list from the I-th) with their outputs."""
    index, count = shard
    names = output_names(files)
    return [
        BatchItem(position, path, {fmt: output_folder / f"{names[position]}.{fmt}" for fmt in formats})
        for position, path in enumerate(files)
        if position % count == index
    ]


def tally(statuses: Sequence[str]) -> dict[str, int]:
    """How many files are done, skipped (already finished) and failed."""
    return {status: sum(s == status for s in statuses) for status in ("done", "skipped", "failed")}


def made_from(music: Path, settings: str) -> dict[str, str]:
    """What a batch item's outputs are made from: the music's SHA-256 and the settings (a
    canonical JSON text of everything that shapes the outputs)."""
    return {"audio_sha256": file_sha256(music), "settings": settings}


def record_path(item: BatchItem) -> Path:
    """The hidden record beside an item's outputs: ``.NAME.batch.json``."""
    first = next(iter(item.outputs.values()))
    return first.with_name(f".{first.stem}.batch.json")


def read_record(item: BatchItem) -> dict[str, Any] | None:
    """The item's record, or None where there is none (outputs of an older batch) or it is unreadable."""
    try:
        record = json.loads(record_path(item).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(item: BatchItem, made: dict[str, Any]) -> None:
    write_atomically(record_path(item), lambda handle: json.dump(made, handle), binary=False)
