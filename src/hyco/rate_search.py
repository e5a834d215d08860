"""Coding to a target size: bisection over a variable-rate model's rate.

A variable-rate model codes at any quality in its range from one set of weights, and its
file size grows with the quality. For a lambda-conditioned model (QARV) quality is linear in
log-lambda, so bisecting the quality is bisecting log-lambda. Every probe is a real
encode and the criterion is the real file size, header included, never an estimate: the
result is the highest-rate file of at most the target bits per pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from hyco import zoo
from hyco.errors import HycoError

RESOLUTION = 1 / 64  # stop when the bracket is this narrow (a 1/64 octave of lambda for QARV)


def check_target(model: str, target_bpp: float) -> None:
    """Refuse what a search cannot do, before any work (one-line errors)."""
    if not zoo.spec(model).variable_rate:
        rated = ", ".join(n for n, s in zoo.MODELS.items() if s.variable_rate)
        raise HycoError(f"a target bpp needs a variable-rate model ({rated}), not {model}")
    if not (isinstance(target_bpp, (int, float)) and math.isfinite(target_bpp)
            and target_bpp > 0):
        raise HycoError(f"target bpp must be a positive number, not {target_bpp}")


def search_rate(encode: Callable[[float], bytes], model: str, target_bpp: float,
                pixels: int) -> bytes:
    """The file ``encode(quality)`` of the highest quality whose size is <= ``target_bpp``."""
    check_target(model, target_bpp)
    lo, hi = zoo.spec(model).quality_range

    def bpp(data: bytes) -> float:
        return 8 * len(data) / pixels

    best = encode(lo)
    if bpp(best) > target_bpp:
        raise HycoError(f"{model} cannot code this image in {target_bpp:g} bpp: its lowest "
                        f"rate is {bpp(best):.4f} bpp")
    top = encode(hi)
    if bpp(top) <= target_bpp:
        return top
    while hi - lo > RESOLUTION:  # invariant: bpp(lo) <= target < bpp(hi)
        mid = (lo + hi) / 2
        data = encode(mid)
        if bpp(data) <= target_bpp:
            lo, best = mid, data
        else:
            hi = mid
    return best
