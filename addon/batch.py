"""``batch``: every music file of folders, files and lists to outputs in one folder, resumably.

Which files, in which order, under which names and for which shard comes from core/batch.py
(no Blender needed); this module runs them one by one through :func:`addon.scene_io.produce`.
A failing file is reported and never stops the rest; a file whose outputs all exist is skipped
(``--force`` redoes it), so a stopped batch resumes, unless the music file, the settings or a
file they name (a grid, a scene, a mapping, weights) have changed since the outputs were made, or
a run stopped while making them (a hidden ``.NAME.batch.json`` beside them records all of it; it
is marked unfinished before the first output is written).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from ..core.audio.decode import MUSIC_SUFFIXES, file_sha256
from ..core.batch import (
    collect_inputs,
    made_from,
    parse_formats,
    parse_shard,
    plan_batch,
    read_record,
    record_path,
    tally,
    write_record,
)
from ..core.errors import ConductorError
from ..core.outputs import check_output_folder, write_atomically
from .generation import refuse_missing_torch
from .scene_io import LineProgress, SceneJob, produce


def run_batch(args: argparse.Namespace, make_job: Callable[[Path], SceneJob], render_options: Any) -> int:
    """Run the batch the command line describes; returns how many files failed."""
    shard = parse_shard(args.shard)
    formats = parse_formats(args.formats)
    files, ignored = collect_inputs([Path(p) for p in args.inputs], [Path(p) for p in args.list])
    if not files:
        looked = f" ({len(ignored)} files that are not music were ignored)" if ignored else ""
        raise ConductorError(
            f"No music files were given{looked}; name music files ({', '.join(MUSIC_SUFFIXES)}), folders "
            "holding them (subfolders are not searched) or --list files."
        )
    if args.scene_path and not Path(args.scene_path).is_file():  # would fail every file the same way
        raise ConductorError(f"Scene file '{args.scene_path}' does not exist; check the path of --scene.")
    first = make_job(files[0])
    if first.generate.beats_path and len(files) > 1:  # one grid is one piece's beats
        raise ConductorError(
            f"--beats gives the beats of one piece, but this batch has {len(files)} music files; run "
            "generate for that piece, or batch without --beats."
        )
    refuse_missing_torch(first.generate)  # a GPU or bf16 without PyTorch: said once, not for every file
    if args.summary:  # found out before the batch, not after it
        check_output_folder(Path(args.summary).parent)
    output_folder = check_output_folder(args.output)
    items = plan_batch(files, formats, output_folder, shard=shard)
    print(
        f"batch: {len(items)} of {len(files)} files (shard {shard[0]}/{shard[1]}), outputs {', '.join(formats)} "
        f"in {output_folder}",
        file=sys.stderr,
        flush=True,
    )
    for path in ignored:
        print(f"ignored {path}: not a music file ({', '.join(MUSIC_SUFFIXES)})", file=sys.stderr, flush=True)

    results: list[dict[str, Any]] = []
    started = time.monotonic()
    for number, item in enumerate(items, start=1):
        label = f"[{number}/{len(items)}] {item.music.name}"
        job = make_job(item.music)
        try:
            made: dict[str, str] | None = made_from(item.music, settings_text(job, render_options, formats))
        except OSError:  # unreadable music: producing it says so, in its own words
            made = None
        record = read_record(item) if made is not None else None
        # No record: outputs of an older batch, kept. A record of other music or settings: redone.
        changed_what = None
        if made is not None and record is not None and record != made:
            changed_what = (
                "outputs were left unfinished by a run that stopped"
                if record.get("unfinished")
                else "music changed"
                if record.get("audio_sha256") != made["audio_sha256"]
                else "settings changed"
            )
        changed = changed_what is not None
        todo = {fmt: target for fmt, target in item.outputs.items() if args.force or changed or not target.is_file()}
        result: dict[str, Any] = {"input": str(item.music), "outputs": [str(t) for t in item.outputs.values()]}
        file_started = time.monotonic()
        if changed and not args.force:
            print(
                f"{label}: made again, its {changed_what} since they were made",
                file=sys.stderr,
                flush=True,
            )
        if not todo:
            result["status"] = "skipped"  # said once, in the line below
        else:
            try:
                if made is not None:  # a run stopped in the middle leaves outputs of mixed settings
                    write_record(item, {**made, "unfinished": True})
                produce(
                    job,
                    todo.get("blend"),
                    todo.get("mp4"),
                    [target for fmt, target in todo.items() if fmt not in ("blend", "mp4")],
                    render_options,
                    LineProgress(label),
                )
                if made is not None:
                    write_record(item, made)
                result["status"] = "done"
            except ConductorError as error:
                result.update(status="failed", error=str(error))
            except Exception as error:  # a bug on one file must not stop the others
                traceback.print_exc()
                result.update(status="failed", error=f"unexpected {type(error).__name__}: {error}")
            if result["status"] == "failed" and not any(target.is_file() for target in item.outputs.values()):
                record_path(item).unlink(missing_ok=True)  # nothing made: nothing to mark unfinished
        result["seconds"] = round(time.monotonic() - file_started, 2)
        results.append(result)
        failed = tally([r["status"] for r in results])["failed"]
        outcome = {
            "failed": f"FAILED: {result.get('error')}",
            "skipped": "skipped, its outputs exist (--force redoes it)",
        }.get(result["status"], result["status"])
        print(
            f"{label}: {outcome} ({result['seconds']:.1f} s); overall {number}/{len(items)} "
            f"({100 * number / len(items):.0f}%), {failed} failed",
            file=sys.stderr,
            flush=True,
        )

    counts = tally([r["status"] for r in results])
    print(
        f"batch summary: {len(items)} files in shard {shard[0]}/{shard[1]}: {counts['done']} done, "
        f"{counts['skipped']} skipped (already finished), {counts['failed']} failed, "
        f"{len(ignored)} ignored; {time.monotonic() - started:.1f} s"
    )
    for result in results:
        if result["status"] == "failed":
            print(f"  failed {result['input']}: {result['error']}")
    if args.summary:
        document = {
            "shard": list(shard),
            "formats": formats,
            "files": results,
            "ignored": [str(p) for p in ignored],
            **counts,
        }
        write_atomically(Path(args.summary), lambda handle: json.dump(document, handle, indent=1), binary=False)
    return counts["failed"]


def settings_text(job: SceneJob, render_options: Any, formats: list[str]) -> str:
    """What a batch item's outputs depend on besides the music's bytes, as canonical JSON: the
    job's settings, the SHA-256 of every file they name (an edited grid makes the piece again),
    and the render options where a video is among the ``formats``."""
    job_settings = dataclasses.asdict(job)
    del job_settings["audio"]
    settings = {"job": job_settings, "files": named_file_digests(job_settings)}
    if "mp4" in formats:
        settings["render"] = dataclasses.asdict(render_options)
    return json.dumps(settings, sort_keys=True, default=str)


def named_file_digests(settings: dict[str, Any]) -> dict[str, str]:
    """The SHA-256 of each existing file a (nested) settings value names, by its dotted field name."""
    digests = {}
    for name, value in settings.items():
        if isinstance(value, dict):
            digests.update({f"{name}.{key}": digest for key, digest in named_file_digests(value).items()})
        elif isinstance(value, str) and value and Path(value).is_file():
            digests[name] = file_sha256(Path(value))
    return digests
