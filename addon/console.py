"""What Blender and its bundled exporters print while a headless command runs.

Opening, saving and exporting print their own log lines ("Info: Saved copy as ...", "Read
blend: ...", the glTF exporter's INFO lines, "export finished in 4.9 sec.") between the
command's progress lines, where a farm's log or a user reads them as ours. They are held back
while those steps run and shown only when a step fails, as the detail of its error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator


@contextlib.contextmanager
def held_output(*, shown_on_failure: bool = True) -> Iterator[None]:
    """Hold what is written to the process's stdout and stderr (file descriptors 1 and 2, so C
    code's output too) during the block. When the block raises it is written to stderr first,
    unless ``shown_on_failure`` is False (where the error already quotes it)."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 1)
        os.dup2(held.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
            if failed and shown_on_failure:
                held.seek(0)
                os.write(2, held.read())
