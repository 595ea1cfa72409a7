"""The one check of a ``batch_size`` argument, shared by the text and image encoders."""

from __future__ import annotations

import numbers


def check_batch_size(batch_size: object) -> int:
    """Return ``batch_size`` as an ``int`` >= 1, or raise naming what was received.

    Booleans and floats are refused (``True`` is an ``int`` in Python, ``2.0`` is not a count),
    and so is 0: it does *not* mean "the default" -- pass ``None`` for that.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(
            f"batch_size must be a positive int, got {type(batch_size).__name__} ({batch_size!r}); "
            "e.g. batch_size=32, or leave it out for the encoder's default"
        )
    if batch_size < 1:
        raise ValueError(
            f"batch_size must be >= 1, got {batch_size}; e.g. batch_size=32, or leave it out for the default"
        )
    return int(batch_size)
