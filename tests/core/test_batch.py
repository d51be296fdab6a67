"""Batch bookkeeping without Blender: the ordered list, output names, shards, formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.batch import collect_inputs, output_names, parse_formats, parse_shard, plan_batch, tally
from core.errors import ConductorError


def test_folders_lists_and_files_give_one_ordered_list(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    for name in ("b.flac", "a.wav", ".hidden.ogg", "notes.txt"):
        (music / name).write_bytes(b"")
    (music / "sub").mkdir()
    listing = tmp_path / "list.txt"
    listing.write_text("# comment\nmusic/a.wav\n\nextra.mp3\n")
    files, ignored = collect_inputs([music], [listing])
    assert [p.name for p in files] == ["a.wav", "b.flac", "extra.mp3"]  # a.wav once, in its first place
    assert [p.name for p in ignored] == ["notes.txt"]
    with pytest.raises(ConductorError, match="does not exist"):
        collect_inputs([tmp_path / "no such folder"], [])


def test_repeated_stems_get_numbered_names_and_shards_split_completely(tmp_path: Path) -> None:
    files = [Path("x/piece.wav"), Path("y/Piece.flac"), Path("z/other.ogg"), Path("w/piece.mp3")]
    assert output_names(files) == ["piece", "Piece-2", "other", "piece-3"]
    taken = [item.position for shard in range(3) for item in plan_batch(files, ["blend"], tmp_path, shard=(shard, 3))]
    assert sorted(taken) == [0, 1, 2, 3] and len(set(taken)) == 4
    (item,) = plan_batch(files, ["blend", "npz"], tmp_path, shard=(1, 3))
    assert item.outputs == {"blend": tmp_path / "Piece-2.blend", "npz": tmp_path / "Piece-2.npz"}


@pytest.mark.parametrize("text", ["1/1", "a/b", "3", "-1/2"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(ConductorError, match="shard"):
        parse_shard(text)


def test_formats_and_tally() -> None:
    assert parse_formats(" blend, .MP4,blend ") == ["blend", "mp4"]
    with pytest.raises(ConductorError, match="--formats"):
        parse_formats("blend,avi")
    assert tally(["done", "failed", "skipped", "done"]) == {"done": 2, "skipped": 1, "failed": 1}
