"""HiNeRV's architecture configuration and its size presets (a size is a rate).

:class:`HiNeRVConfig` fixes every tensor shape (and so what a decoder expects); it travels in
the file as a list of integers. :func:`config_for` turns a size (a preset scaled by the
video's pixel-frames, or a parameter count) into the widest configuration within it, with
HiNeRV's layout: upsampling factors chosen by frame size, depth 3 per stage with expansion 4
and a last stage of one block without expansion, channels halving from stage to stage.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from hyco.container import MAX_FRAMES, MAX_SIDE
from hyco.errors import HycoError

# sizes: parameters at one million pixel-frames; a video of N pixel-frames gets
# SIZES[size] * (N / 1e6) ** SIZE_EXPONENT parameters. Sublinear, as the bits a codec needs
# for a given quality grow slower than resolution and length (redundancy grows with them):
# "s" is about 17k parameters for 32 QCIF frames and 2.9M for 600 1080p frames (HiNeRV's
# own sizes for UVG are of that order).
SIZES = {"xs": 10_000, "s": 20_000, "m": 40_000, "l": 80_000}
SIZE_EXPONENT = 0.7
DEFAULT_SIZE = "s"
MAX_PARAMS = 1 << 24
MAX_FAN_IN = 1 << 13  # keeps exact accumulators below 2**48 (see hyco.nn.weight_quant)
_MIN_CHANNELS = 8
_MIN_WIDTH = 4  # the narrowest first stage a size may get
_BASE_SIDE = 9  # the base grid's shorter side is at least this many cells
_SCALES = [(2,), (2, 2), (2, 2, 2), (2, 2, 2, 2), (3, 2, 2, 2), (4, 2, 2, 2), (5, 2, 2, 2),
           (5, 3, 2, 2), (5, 4, 3, 2)]
_GRID_WIDTHS = [(4, 2), (2, 2), (2, 1), (1, 1)]  # (local, base) grid channels, widest first


@dataclass(frozen=True)
class HiNeRVConfig:
    """Everything that fixes the architecture (and so the tensor shapes a decoder expects)."""

    height: int
    width: int
    frames: int
    scales: tuple[int, ...]
    channels: int
    depths: tuple[int, ...]
    exps: tuple[int, ...]
    kernel: int = 3
    stem_kernel: int = 3
    base_frames: int = 1
    base_channels: int = 2
    base_levels: int = 2
    enc_channels: int = 4
    enc_levels: int = 3
    min_channels: int = 8

    def __post_init__(self) -> None:
        n = len(self.scales)
        ok = (1 <= self.height <= MAX_SIDE and 1 <= self.width <= MAX_SIDE
              and 1 <= self.frames <= MAX_FRAMES and 1 <= n <= 6
              and len(self.depths) == n and len(self.exps) == n
              and all(1 <= s <= 8 for s in self.scales) and all(1 <= d <= 8 for d in self.depths)
              and all(1 <= e <= 8 for e in self.exps) and 1 <= self.channels <= 2048
              and self.kernel in (1, 3, 5, 7) and self.stem_kernel in (1, 3, 5, 7)
              and 1 <= self.base_frames <= self.frames and 1 <= self.base_channels <= 64
              and 1 <= self.base_levels <= 4 and 1 <= self.enc_channels <= 64
              and 1 <= self.enc_levels <= 4 and 1 <= self.min_channels <= 2048)
        if not ok:
            raise ValueError(f"invalid HiNeRV configuration {self}")

    # -- geometry ------------------------------------------------------------------------------
    @property
    def stride(self) -> int:
        """Pixels per base cell: the product of the upsampling factors."""
        return math.prod(self.scales)

    @property
    def base_size(self) -> tuple[int, int]:
        return -(-self.height // self.stride), -(-self.width // self.stride)

    def level_size(self, level: int) -> tuple[int, int]:
        """Frame size at ``level`` (0: base grid, len(scales): the output canvas)."""
        f = math.prod(self.scales[:level])
        return self.base_size[0] * f, self.base_size[1] * f

    # -- widths --------------------------------------------------------------------------------
    def stage_out(self, i: int) -> int:
        """Channels halve from stage to stage, down to ``min_channels`` (a small network
        would otherwise end in a few channels at full resolution, a bottleneck)."""
        return min(self.channels, max(self.channels >> i, self.min_channels))

    def stage_in(self, i: int) -> int:
        return self.channels if i == 0 else self.stage_out(i - 1)

    def base_grid(self, j: int) -> tuple[int, int]:
        """(frames, channels) of base grid level ``j``."""
        return max(1, -(-self.base_frames // (1 << j))), self.base_channels << j

    def local_grid(self, i: int, j: int) -> tuple[int, int]:
        """(frames, channels per cell position) of stage ``i``'s local grid level ``j``."""
        return max(1, -(-self.frames // (1 << j))), max(1, self.enc_channels >> i) << j

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Every coded tensor, in the canonical order (the module's state_dict order)."""
        hb, wb = self.base_size
        out: dict[str, tuple[int, ...]] = {}
        for j in range(self.base_levels):
            g, c = self.base_grid(j)
            out[f"base.{j}"] = (g, hb, wb, c)
        cb = sum(self.base_grid(j)[1] for j in range(self.base_levels))
        k, ks = self.kernel, self.stem_kernel
        out["stem.weight"], out["stem.bias"] = (self.channels, cb, ks, ks), (self.channels,)
        for i, s in enumerate(self.scales):
            cin, cout = self.stage_in(i), self.stage_out(i)
            for j in range(self.enc_levels):
                g, c = self.local_grid(i, j)
                out[f"stages.{i}.grids.{j}"] = (g, s * s * c)
            ce = sum(self.local_grid(i, j)[1] for j in range(self.enc_levels))
            out[f"stages.{i}.enc.weight"], out[f"stages.{i}.enc.bias"] = (cin, ce), (cin,)
            for d in range(self.depths[i]):
                c1, hidden = cin if d == 0 else cout, cout * self.exps[i]
                p = f"stages.{i}.blocks.{d}"
                out[f"{p}.dw.weight"], out[f"{p}.dw.bias"] = (c1, 1, k, k), (c1,)
                out[f"{p}.fc1.weight"], out[f"{p}.fc1.bias"] = (hidden, c1, 1, 1), (hidden,)
                out[f"{p}.fc2.weight"], out[f"{p}.fc2.bias"] = (cout, hidden, 1, 1), (cout,)
        c_last = self.stage_out(len(self.scales) - 1)
        out["head.weight"], out["head.bias"] = (3, c_last, 1, 1), (3,)
        return out

    def num_params(self) -> int:
        return sum(math.prod(s) for s in self.shapes().values())

    def grid_params(self) -> int:
        return sum(math.prod(s) for n, s in self.shapes().items() if "grids" in n or
                   n.startswith("base."))

    def check_limits(self) -> None:
        """Refuse a network a decoder could not run exactly or within sane memory."""
        shapes = self.shapes()
        fan_in = max(math.prod(s[1:]) for n, s in shapes.items() if n.endswith(".weight"))
        if fan_in > MAX_FAN_IN or self.num_params() > MAX_PARAMS:
            raise HycoError(f"HiNeRV network too large ({self.num_params()} parameters, "
                            f"fan-in {fan_in})")

    def to_ints(self) -> list[int]:
        d = asdict(self)
        return [d["height"], d["width"], d["frames"], len(self.scales), *self.scales,
                self.channels, *self.depths, *self.exps, self.kernel, self.stem_kernel,
                self.base_frames, self.base_channels, self.base_levels, self.enc_channels,
                self.enc_levels, self.min_channels]

    @classmethod
    def from_ints(cls, v: list[int]) -> HiNeRVConfig:
        """Inverse of :meth:`to_ints`; raises ValueError on anything malformed."""
        if len(v) < 4 or not 1 <= v[3] <= 6 or len(v) != 4 + 3 * v[3] + 9:
            raise ValueError("malformed HiNeRV configuration")
        n = v[3]
        scales, rest = tuple(v[4 : 4 + n]), v[4 + n :]
        return cls(v[0], v[1], v[2], scales, rest[0], tuple(rest[1 : 1 + n]),
                   tuple(rest[1 + n : 1 + 2 * n]), *rest[1 + 2 * n :])


def parse_size(size: str, height: int, width: int, frames: int) -> int:
    """A size preset (xs, s, m, l) or a parameter count (``20000``, ``20k``, ``1.5M``)."""
    text = str(size).strip().lower()
    if text in SIZES:
        return max(1, round(SIZES[text] * (height * width * frames / 1e6) ** SIZE_EXPONENT))
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", text)
    if not m:
        raise HycoError(f"unknown HiNeRV size {size!r} (use {', '.join(SIZES)} or a parameter "
                        "count such as 20k)")
    count = round(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2)])
    if not 1 <= count <= MAX_PARAMS:
        raise HycoError(f"HiNeRV size {size!r} is outside 1..{MAX_PARAMS} parameters")
    return count


def default_scales(height: int, width: int) -> tuple[int, ...]:
    """The deepest upsampling chain that keeps at least 9 base cells on the shorter side
    (HiNeRV's 1080p configuration has a 9 x 16 base with factors 5, 4, 3, 2)."""
    side = min(height, width)
    fitting = [s for s in _SCALES if side / math.prod(s) >= _BASE_SIDE]
    return fitting[-1] if fitting else _SCALES[0]


def config_for(height: int, width: int, frames: int, size: str = DEFAULT_SIZE,
               scales: tuple[int, ...] | None = None,
               min_channels: int = _MIN_CHANNELS) -> HiNeRVConfig:
    """The configuration of a size: the widest network whose parameter count (grids
    included) is at most the size's budget, with grids kept to about a quarter of it."""
    budget = parse_size(size, height, width, frames)
    scales = tuple(scales) if scales else default_scales(height, width)
    n = len(scales)
    depths = (3,) * (n - 1) + (1,) if n > 1 else (3,)
    exps = (4,) * (n - 1) + (1,) if n > 1 else (4,)
    base_frames = max(1, -(-frames // 4))

    def make(channels: int, enc: int, base: int) -> HiNeRVConfig:
        return HiNeRVConfig(height, width, frames, scales, channels, depths, exps,
                            base_frames=base_frames, base_channels=base, enc_channels=enc,
                            min_channels=min_channels)

    widths = _GRID_WIDTHS[-1]
    for enc, base in _GRID_WIDTHS:
        if make(_MIN_WIDTH, enc, base).grid_params() <= budget / 4:
            widths = (enc, base)
            break
    lo, hi = _MIN_WIDTH, 2048
    while lo < hi:  # the largest width within budget (parameter count grows with width)
        mid = (lo + hi + 1) // 2
        if make(mid, *widths).num_params() <= budget:
            lo = mid
        else:
            hi = mid - 1
    cfg = make(lo, *widths)
    cfg.check_limits()
    return cfg
