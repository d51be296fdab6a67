"""Entry point of ``python -m core``."""

import os
import sys

from .cli import main

status = main()
if "torch" in sys.modules:
    # Tearing PyTorch's modules down takes a second at exit, after every output is written and
    # closed: leave without it (nothing else is pending: outputs are renamed into place).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
sys.exit(status)
