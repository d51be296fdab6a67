"""Long jobs of the add-on in a child process: started, polled from a modal timer, cancelled, cleaned up.

Both long jobs, generation (``worker.py``) and installing PyTorch (``preferences.py``), run in a
child process so Blender never freezes. :class:`ChildProcess` reads the child's stdout on a thread
into a queue, so the timer's poll never blocks, and keeps the last lines of its stderr for the
console. :class:`BackgroundTask` is one such job of this Blender session: at most one task of each
kind runs at a time (``BackgroundTask.running``), and stopping it — by its Cancel button, when it
ends, when the add-on is unregistered or a file is loaded — ends the process, removes its modal
timer and runs its clean-up exactly once.

Plain Python (the window manager comes in as an argument), so it runs in tests without Blender.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from typing import Any, Callable, ClassVar, Sequence

STDERR_KEEP_LINES = 40
TERMINATE_GRACE_S = 0.5


class ChildProcess:
    """A child process whose stdout lines arrive, without blocking, through :meth:`new_lines`.

    ``merge_stderr`` sends stderr into the same stream (pip's log); otherwise the last
    :data:`STDERR_KEEP_LINES` lines of stderr are kept in :attr:`stderr_lines`. Raises OSError
    when the program cannot be started.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        merge_stderr: bool = False,
    ) -> None:
        flags = 0
        if sys.platform == "win32":  # an if statement, so type checkers on Linux skip it
            flags = subprocess.CREATE_NO_WINDOW
        self.process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            creationflags=flags,
        )
        self.stderr_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._ended = False
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True)]
        if not merge_stderr:
            self._threads.append(threading.Thread(target=self._read_stderr, daemon=True))
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None, "stdout is a pipe"
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\r\n"))
        self._lines.put(None)  # end of stream

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None, "stderr is a pipe"
        for line in self.process.stderr:
            self.stderr_lines.append(line.rstrip())
            del self.stderr_lines[:-STDERR_KEEP_LINES]

    def new_lines(self) -> list[str]:
        """The stdout lines that arrived since the last call; never blocks."""
        lines = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                self._ended = True
                break
            lines.append(line)
        return lines

    @property
    def output_ended(self) -> bool:
        """True once :meth:`new_lines` has handed out the last line of a closed stdout."""
        return self._ended

    def wait(self, timeout_s: float = 5.0) -> int:
        """The exit status, killing the process if it has not ended within ``timeout_s``."""
        try:
            returncode = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            returncode = self.process.wait()
        for thread in self._threads:
            thread.join(timeout=1.0)
        return returncode

    def stop(self, grace_s: float = TERMINATE_GRACE_S) -> None:
        """End the process now: terminate, then kill after ``grace_s``."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for thread in self._threads:
            thread.join(timeout=0.5)

    @property
    def returncode(self) -> int | None:
        return self.process.poll()


class BackgroundTask:
    """One long job of this Blender session, polled from a modal timer.

    Parameters
    ----------
    kind : str
        "generate" or "install": one task of a kind at a time.
    job : object
        The job; its ``cancel()`` is called when the task is stopped before it finished.
    cleanup : callable or None
        Called once when the task stops, however it stops (e.g. removes a temporary folder).
    details : dict
        What the operators need to find again (the scene a run started in).
    """

    running: ClassVar[dict[str, BackgroundTask]] = {}

    def __init__(self, kind: str, job: Any, *, cleanup: Callable[[], None] | None = None, **details: Any) -> None:
        if kind in self.running:
            raise RuntimeError(f"a {kind} task is already running")
        self.kind, self.job, self.details = kind, job, details
        self._cleanup = cleanup
        self._timer: Any = None
        self._window_manager: Any = None
        self.running[kind] = self

    @classmethod
    def get(cls, kind: str) -> BackgroundTask | None:
        return cls.running.get(kind)

    def start_timer(self, window_manager: Any, window: Any, interval_s: float) -> None:
        """Add the modal timer that wakes the operator every ``interval_s`` seconds."""
        self._window_manager = window_manager
        self._timer = window_manager.event_timer_add(interval_s, window=window)

    def stop(self) -> None:
        """Cancel the job if it still runs, remove the timer, clean up, forget the task."""
        if self.running.get(self.kind) is not self:
            return  # already stopped
        del self.running[self.kind]
        try:
            if not getattr(self.job, "finished", True):
                self.job.cancel()
        finally:
            if self._timer is not None and self._window_manager is not None:
                self._window_manager.event_timer_remove(self._timer)
                self._timer = None
            if self._cleanup is not None:
                self._cleanup()

    @classmethod
    def stop_all(cls) -> None:
        for task in list(cls.running.values()):
            task.stop()
