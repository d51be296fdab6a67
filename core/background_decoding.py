"""Decoding the music while the network path imports PyTorch.

``import torch`` takes about 2.5 s here, mostly Python code that holds the interpreter lock. A
decoding thread beside it gets the lock back only when the import lets go of it, once per
switch interval, after every NumPy call: on a 10-minute piece the thread's 1.3 s of decoding and
mel spectrogram end after 3.3 s, and slow the import by as much. A forked child process has an
interpreter of its own, so on Linux both end within the import's own time.

A fork is taken only where it is known to be safe: on Linux, outside Blender, before PyTorch is
imported and with no other Python thread running. Elsewhere the decoding runs in a thread, as
before. Either way :meth:`result` gives what the decoding function returned or raises what it
raised, and :meth:`close` waits for the decoding to end, so no decoder is left behind.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import pickle
import signal
import sys
import tempfile
import threading
import warnings
from typing import IO, Callable

import numpy as np

from .errors import ConductorError

DecodedMusic = tuple[np.ndarray | None, np.ndarray, str]  # (samples or None, mel_90hz, SHA-256)

_RESULT, _ERROR = b"R", b"E"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_CHILD_NICENESS = 10


def fork_is_safe() -> bool:
    """Whether this process may fork a decoder: Linux, not Blender, PyTorch not yet imported (its
    thread pools would be copied half-made) and no other Python thread (its locks would be too)."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and "torch" not in sys.modules
        and "bpy" not in sys.modules
        and threading.active_count() == 1
    )


class BackgroundDecoding:
    """``decode()`` running beside the caller, in a forked process where :func:`fork_is_safe`,
    else in a thread. Use as ``try: ... decoding.result() ... finally: decoding.close()``."""

    def __init__(self, decode: Callable[[], DecodedMusic]) -> None:
        self._pid = 0
        self._exchange: IO[bytes] | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._future: concurrent.futures.Future[DecodedMusic] | None = None
        self.forked = fork_is_safe() and self._fork(decode)
        if not self.forked:
            self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            self._future = self._thread.submit(decode)

    def _fork(self, decode: Callable[[], DecodedMusic]) -> bool:
        """Start the child; False where the system will not (no temporary file, no process)."""
        try:
            # An unnamed file (O_TMPFILE) carries the result: it vanishes with the last process
            # that holds it, so a cancelled worker leaves nothing on disk.
            exchange = tempfile.TemporaryFile(prefix="conductor-decoding-")
        except OSError:
            return False
        parent = os.getpid()
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns about NumPy's BLAS threads; the child waits on none of them.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            exchange.close()
            return False
        if pid == 0:
            _run_child(decode, exchange, parent)  # never returns
        self._pid, self._exchange = pid, exchange
        return True

    def result(self) -> DecodedMusic:
        """What ``decode()`` returned; raises what it raised."""
        if self._future is not None:
            return self._future.result()
        assert self._exchange is not None, "a forked decoding keeps its exchange file until closed"
        status = self._wait()
        if status != 0:
            ended = f"signal {-status}" if status < 0 else f"status {status}"
            raise ConductorError(
                f"The process decoding the music stopped ({ended}) before it finished; free some memory "
                f"or space in {tempfile.gettempdir()} and run again."
            )
        exchange = self._exchange
        exchange.seek(0)
        if exchange.read(1) == _ERROR:
            raise pickle.load(exchange)  # written by our own child just now
        sha256 = exchange.read(64).decode("ascii")
        mel = np.load(exchange, allow_pickle=False)
        samples = np.load(exchange, allow_pickle=False) if exchange.read(1) == b"1" else None
        return samples, mel, sha256

    def close(self) -> None:
        """Wait for the decoding to end and free what it used."""
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=True)
        self._wait()
        if self._exchange is not None:
            self._exchange.close()
            self._exchange = None

    def _wait(self) -> int:
        """The child's exit code (minus the signal that ended it), once; 0 after that."""
        if not self._pid:
            return 0
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        return os.waitstatus_to_exitcode(status)


def _run_child(decode: Callable[[], DecodedMusic], exchange: IO[bytes], parent: int) -> None:
    """The forked child: decode, write the result (or the error) to ``exchange``, and exit
    without running anything of the parent's (no atexit, no finally blocks above)."""
    code = 1
    try:
        _die_with_parent(parent)
        # Yield the cores to the parent's import, which is the longer of the two: 0.3 s sooner
        # on a 10-minute piece. Once the parent waits, the decoding has the cores to itself.
        os.nice(_CHILD_NICENESS)
        try:
            samples, mel, sha256 = decode()
            exchange.write(_RESULT + sha256.encode("ascii"))
            np.save(exchange, mel, allow_pickle=False)
            exchange.write(b"0" if samples is None else b"1")
            if samples is not None:
                np.save(exchange, samples, allow_pickle=False)
        except Exception as error:
            _write_error(exchange, error)
        exchange.flush()
        code = 0
    except BaseException:  # interrupted, or the file could not be written: the parent says so
        pass
    finally:
        os._exit(code)


def _write_error(exchange: IO[bytes], error: Exception) -> None:
    try:
        pickled = pickle.dumps(error.with_traceback(None))
    except Exception:  # an error that does not pickle: its words reach the parent
        pickled = pickle.dumps(RuntimeError(f"{type(error).__name__}: {error}"))
    exchange.seek(0)
    exchange.truncate()
    exchange.write(_ERROR + pickled)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to end this child when its parent ends (a cancelled worker), so no decoder
    runs on for nobody."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(1)
