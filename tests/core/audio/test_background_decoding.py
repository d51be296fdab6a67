"""The network path decodes the music in a forked process while PyTorch imports (Linux, outside
Blender, before PyTorch), and in a thread elsewhere: both give what decoding in place gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import DEMO_PIECE, GOLDEN_AUDIO, OFFICIAL_GENERATOR, PROJECT_ROOT, write_tone

# Run in a fresh interpreter: this test process has PyTorch imported, where no fork is taken.
FORKED_DECODING = """
import os, sys
from pathlib import Path
import numpy as np
import core.cli  # everything `python -m core` imports before the decoding starts
from core.audio.background_decoding import BackgroundDecoding, fork_is_safe
from core.errors import ConductorError
from core.generate import decoded_music

music, short = Path(sys.argv[1]), Path(sys.argv[2])
assert fork_is_safe(), "a plain Python on Linux may fork: nothing the CLI imports may import PyTorch"
decoding = BackgroundDecoding(lambda: decoded_music(music))
assert decoding.forked
try:
    samples, mel, sha256 = decoding.result()
finally:
    decoding.close()
here = decoded_music(music)
assert np.array_equal(samples, here[0]) and np.array_equal(mel, here[1]) and sha256 == here[2]
assert samples.dtype == mel.dtype == np.float32

decoding = BackgroundDecoding(lambda: decoded_music(music, keep_samples=False))
try:
    samples, mel, _ = decoding.result()
finally:
    decoding.close()
assert samples is None and np.array_equal(mel, here[1])

decoding = BackgroundDecoding(lambda: decoded_music(short))
try:
    decoding.result()
except ConductorError as error:
    print("refused:", error)
finally:
    decoding.close()

# A child that cannot hand its result over (killed, no room for the file): decoded here instead.
parent = os.getpid()
decoding = BackgroundDecoding(lambda: os._exit(3) if os.getpid() != parent else ("here", "mel", "sha"))
try:
    print("fell back:", decoding.result())
finally:
    decoding.close()

# A bug in the decoder keeps the child's traceback.
def broken():
    return {}["missing"]

decoding = BackgroundDecoding(broken)
try:
    decoding.result()
except KeyError as error:
    print("bug:", "broken" in "".join(getattr(error, "__notes__", [])))
finally:
    decoding.close()

# Closing a decoding whose result is not wanted (a failed weights check) stops it at once.
import time
decoding = BackgroundDecoding(lambda: time.sleep(60))
time.sleep(0.5)
started = time.monotonic()
decoding.close()
print(f"closed in {time.monotonic() - started:.0f} s")
try:
    os.waitpid(-1, os.WNOHANG)
except ChildProcessError:
    print("no child left")
"""


@pytest.mark.slow
def test_a_forked_decoding_gives_what_decoding_in_place_gives(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("the decoding forks on Linux only")
    short = write_tone(tmp_path / "short.wav", duration_s=0.6)
    result = subprocess.run(
        [sys.executable, "-c", FORKED_DECODING, str(DEMO_PIECE), str(short)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("refused: 'short.wav' is only 0.60 s long"), lines  # the child's own error
    assert lines[1] == "fell back: ('here', 'mel', 'sha')", lines
    assert lines[2] == "bug: True", lines
    assert lines[3] == "closed in 0 s", lines
    assert lines[4] == "no child left", lines


def test_with_pytorch_imported_the_decoding_runs_in_a_thread():
    import torch  # noqa: F401  (what makes a fork unsafe)

    from core.audio.background_decoding import BackgroundDecoding, fork_is_safe
    from core.generate import decoded_music

    assert not fork_is_safe()
    decoding = BackgroundDecoding(lambda: decoded_music(DEMO_PIECE, keep_samples=False))
    try:
        samples, mel, _ = decoding.result()
    finally:
        decoding.close()
    assert not decoding.forked and samples is None
    assert np.array_equal(mel, decoded_music(DEMO_PIECE)[1])


@pytest.mark.slow
def test_the_cli_conducts_as_the_in_process_path_does(tmp_path, parity_dir):
    """The CLI (a forked decoding) and a library call in a process with PyTorch already imported
    (a thread) give the same motion, bit for bit."""
    from core.generate import generate_motion
    from core.generate_options import GenerateOptions

    output = tmp_path / "m.npz"
    command = [sys.executable, "-m", "core", "generate", str(GOLDEN_AUDIO), "-o", str(output)]
    command += ["--weights", str(OFFICIAL_GENERATOR), "--seed", "3", "--device", "cpu"]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    motion = generate_motion(GOLDEN_AUDIO, GenerateOptions(weights=str(OFFICIAL_GENERATOR), seed=3, device="cpu"))
    with np.load(output) as archive:
        np.testing.assert_array_equal(archive["keypoints"], motion.keypoints)


ORPHANED_DECODING = """
import os, sys, time
from pathlib import Path
from core.audio.background_decoding import BackgroundDecoding

marker = Path(sys.argv[1])

def decode():
    marker.write_text(str(os.getpid()))
    time.sleep(60)

decoding = BackgroundDecoding(decode)
assert decoding.forked
time.sleep(60)
"""


def test_a_decoding_child_ends_with_its_killed_parent(tmp_path):
    """A cancelled worker is killed: its decoding child must not run on for nobody."""
    import os
    import signal
    import time

    if not sys.platform.startswith("linux"):
        pytest.skip("the decoding forks on Linux only")
    marker = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", ORPHANED_DECODING, str(marker)], cwd=PROJECT_ROOT)
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(marker.read_text())
        os.kill(child, 0)  # running
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state == "Z":  # ended, not yet reaped by whoever adopted it
            return
        time.sleep(0.05)
    pytest.fail(f"the decoding child {child} outlived its parent")
