"""The library's loggers, and a log set-up that waits until something logs.

Importing :mod:`logging` takes several milliseconds, and the everyday commands (validate, pack, list, inspect)
log nothing. So the CLI hands its set-up (the handler that prints ``-v`` lines) to :func:`configure` instead of
importing logging itself: the set-up runs at once when logging is already loaded, else when the first library
module asks :func:`get_logger` for its logger. Library modules therefore get their loggers here, never from
``logging.getLogger``, which would miss a set-up still waiting.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

_pending: Callable[[], None] | None = None


def configure(setup: Callable[[], None]) -> None:
    """Run ``setup`` (it imports logging and configures the ``skillctl`` logger) now if logging is loaded,
    else before the first :func:`get_logger`. A later call replaces a set-up still waiting."""
    global _pending
    if "logging" in sys.modules:
        _pending = None
        setup()
    else:
        _pending = setup


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)``, after the set-up :func:`configure` deferred, if any."""
    global _pending
    import logging

    setup, _pending = _pending, None
    if setup is not None:
        setup()
    return logging.getLogger(name)
