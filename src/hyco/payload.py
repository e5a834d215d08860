"""What a codec hands the container: plain data, no tensors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Payload:
    """Entropy-coded streams plus the few integers a decoder needs.

    ``size`` is the true (height, width) of the image; codecs pad internally and crop back.
    ``params`` holds any further codec-specific integers (empty for the image codecs here).
    """

    streams: tuple[bytes, ...]
    size: tuple[int, int]
    params: tuple[int, ...] = ()
