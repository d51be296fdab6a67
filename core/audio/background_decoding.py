"""Decoding the music while the network path imports PyTorch.

``import torch`` takes about 2.5 s here, mostly Python code that holds the interpreter lock. A
decoding thread beside it gets the lock back only when the import lets go of it, once per
switch interval, after every NumPy call: on a 10-minute piece the thread's 1.3 s of decoding and
mel spectrogram end after 3.3 s, and slow the import by as much. A forked child process has an
interpreter of its own, so on Linux both end within the import's own time.

A fork is taken only on Linux, outside Blender, before PyTorch is imported (its thread pools
would be copied half-made), with no other Python thread (its locks would be too) and with the
children left to this process to reap. NumPy's BLAS threads survive a fork through the handlers
OpenBLAS registers for it. Elsewhere the decoding runs in a thread, as before. Either way
:meth:`result` gives what the decoding function returned or raises what it raised: where the
child cannot hand its result over (no room for it, a killed child), the music is decoded again
in this process. :meth:`close` ends the decoding, so no decoder is left behind.
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
import time
import traceback
import warnings
from typing import IO, Callable

import numpy as np

from ..errors import ConductorError

DecodedMusic = tuple[np.ndarray | None, np.ndarray, str]  # (samples or None, mel_90hz, SHA-256)

_RESULT, _ERROR = b"R", b"E"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_CHILD_NICENESS = 10
_STOP_GRACE_S = 1.0
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def fork_is_safe() -> bool:
    """Whether this process may fork a decoder (see the module's notes)."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and "torch" not in sys.modules
        and "bpy" not in sys.modules
        and threading.active_count() == 1
        and signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL  # else the child may be reaped elsewhere
    )


class BackgroundDecoding:
    """``decode()`` running beside the caller, in a forked process where :func:`fork_is_safe`,
    else in a thread. Use as ``try: ... decoding.result() ... finally: decoding.close()``."""

    def __init__(self, decode: Callable[[], DecodedMusic], *, yield_to_caller: bool = True) -> None:
        """``yield_to_caller``: the forked decoder runs at a lower priority, for a caller whose own
        work (PyTorch's import) is the longer of the two; else at the caller's."""
        self._decode = decode
        self._yield = yield_to_caller
        self._pid = 0
        self._status: int | None = None
        self._exchange: IO[bytes] | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._future: concurrent.futures.Future[DecodedMusic] | None = None
        self.forked = fork_is_safe() and self._fork()
        if not self.forked:
            self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            self._future = self._thread.submit(decode)

    def _fork(self) -> bool:
        """Start the child; False where the system will not (no temporary file, no process)."""
        try:
            # An unnamed, unbuffered file (O_TMPFILE) carries the result: NumPy writes and reads
            # it directly, and it vanishes with the last process that holds it.
            exchange = tempfile.TemporaryFile(prefix="conductor-decoding-", buffering=0)
            prctl = ctypes.CDLL(None).prctl  # looked up here: the child makes no dlopen
        except (OSError, AttributeError):
            return False
        parent = os.getpid()
        # Ctrl-C between the fork and the child's own handling would unwind the child through
        # the caller's code: the stop signals wait until each side is ready for them.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns of any thread at a fork; NumPy's BLAS threads are handled.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:
                _run_child(self._decode, exchange, parent=parent, prctl=prctl, nice=self._yield)  # never returns
        except (OSError, RuntimeError):
            exchange.close()
            return False
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        self._pid, self._exchange = pid, exchange
        return True

    def result(self) -> DecodedMusic:
        """What ``decode()`` returned; raises what it raised.

        Returns
        -------
        samples : np.ndarray [shape=(n,), float32] at 22,050 Hz, or None
        mel_90hz : np.ndarray [shape=(T90, 128), float32] in [0, 1]
        sha256 : str
            As :func:`core.generate.decoded_music` gives them.
        """
        if self._future is not None:
            return self._future.result()
        self._wait()
        delivered = self._read() if self._status in (0, None) else None
        if delivered is None:  # the child could not hand its result over: decode here instead
            return self._decode()
        if isinstance(delivered, BaseException):
            raise delivered
        return delivered

    def close(self) -> None:
        """End the decoding (a child not waited for yet is stopped: its result is not wanted)
        and free what it used."""
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=True)
        if self._pid and self._status is None:
            self._stop()
        self._wait()
        if self._exchange is not None:
            self._exchange.close()
            self._exchange = None

    def _stop(self) -> None:
        """SIGTERM, on which the child unwinds (ending an ffmpeg, removing its files), then
        SIGKILL if it is still busy a second later (a block of the mel finishing)."""
        try:
            os.kill(self._pid, signal.SIGTERM)
            deadline = time.monotonic() + _STOP_GRACE_S
            while time.monotonic() < deadline:
                if os.waitpid(self._pid, os.WNOHANG)[0]:
                    self._pid = 0
                    return
                time.sleep(0.01)
            os.kill(self._pid, signal.SIGKILL)
        except (ProcessLookupError, ChildProcessError):
            self._pid = 0

    def _wait(self) -> None:
        if not self._pid:
            return
        try:
            _, status = os.waitpid(self._pid, 0)
            self._status = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped by someone else: the file says whether it finished
            self._status = None
        self._pid = 0

    def _read(self) -> DecodedMusic | BaseException | None:
        """The child's result or error from the exchange file; None where it holds neither."""
        exchange = self._exchange
        assert exchange is not None, "a forked decoding keeps its exchange file until closed"
        try:
            exchange.seek(0)
            kind = exchange.read(1)
            if kind == _ERROR:
                error = pickle.load(exchange)  # written by our own child just now
                return error if isinstance(error, BaseException) else None
            if kind != _RESULT:
                return None
            sha256 = exchange.read(64).decode("ascii")
            mel = np.load(exchange, allow_pickle=False)
            samples = np.load(exchange, allow_pickle=False) if exchange.read(1) == b"1" else None
            return samples, mel, sha256
        except Exception:  # a short or unreadable file
            return None


def _run_child(
    decode: Callable[[], DecodedMusic], exchange: IO[bytes], *, parent: int, prctl: Callable, nice: bool
) -> None:
    """The forked child: decode, write the result (or the error) to ``exchange``, and exit
    without running anything of the parent's (no atexit, no finally blocks above)."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # close(): unwind, cleaning up
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # end with a killed parent (a cancelled worker)
        if os.getppid() != parent:  # the parent ended before the request was made
            return
        # Yield the cores to the parent's import, which is the longer of the two: 0.3 s sooner
        # on a 10-minute piece. Once the parent waits, the decoding has the cores to itself.
        # (A parent that only reads weights, a tenth of a second, is not worth yielding to: at a
        # lower priority the decoding would lose to any other busy process.)
        if nice:
            os.nice(_CHILD_NICENESS)
        try:
            outcome: DecodedMusic | Exception = decode()
        except Exception as error:
            outcome = error
        if isinstance(outcome, Exception):
            _write_error(exchange, outcome)
        else:
            samples, mel, sha256 = outcome
            exchange.write(_RESULT + sha256.encode("ascii"))
            np.save(exchange, mel, allow_pickle=False)
            exchange.write(b"0" if samples is None else b"1")
            if samples is not None:
                np.save(exchange, samples, allow_pickle=False)
        code = 0
    except BaseException:  # interrupted, or the result could not be written: the parent decodes
        pass
    finally:
        os._exit(code)


def _write_error(exchange: IO[bytes], error: Exception) -> None:
    """The error, with the child's traceback as a note (a bug's report keeps where it was)."""
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        if not isinstance(error, ConductorError):  # a user's error is its one sentence
            error.add_note(f"In the decoding process:\n{details}")
        pickled = pickle.dumps(error.with_traceback(None))
    except Exception:  # an error that does not pickle: its words reach the parent
        pickled = pickle.dumps(RuntimeError(f"In the decoding process:\n{details}"))
    exchange.write(_ERROR + pickled)
