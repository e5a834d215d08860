"""Whether bfloat16 autocast is worth asking for on the device a run trains on.

On CPUs with native bf16 (AVX-512 BF16 or AMX) autocast trains about twice as fast as
float32, but on CPUs without it (AVX2-only machines, e.g. AMD Zen 3) oneDNN emulates bf16 and
the same step was measured 22x *slower* (mean-scale, batch 8 of 192x192: 2.9 s in float32,
63 s under autocast). A recipe written on one machine must not cripple a run on another, so
``--bf16`` means "bf16 where it is fast" and the run says when it falls back.
"""

from __future__ import annotations

import sys

import torch


def native_bf16(device: torch.device) -> bool:
    """True where bf16 matrix/convolution kernels run natively on ``device``."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_bf16(requested: bool, device: torch.device) -> bool:
    """``requested`` if the device computes bf16 natively; else False, with a one-line note."""
    if requested and not native_bf16(device):
        print(f"note: --bf16 ignored: this {device.type} has no native bfloat16 kernels "
              "(autocast would be many times slower); training in float32", file=sys.stderr)
        return False
    return requested
