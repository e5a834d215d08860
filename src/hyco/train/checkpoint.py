"""Checkpoints: everything a resumed run needs, saved atomically, loaded without pickle.

Contents are tensors and plain Python values only, so ``torch.load(weights_only=True)``
reads them: a checkpoint from elsewhere can never run code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from hyco.errors import HycoError

CHECKPOINT = "checkpoint.pt"


def save(rundir: Path, state: dict) -> None:
    path = rundir / CHECKPOINT
    tmp = path.with_suffix(".pt.part")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load(rundir: Path) -> dict:
    path = Path(rundir) / CHECKPOINT
    if not path.is_file():
        raise HycoError(f"{rundir}: no {CHECKPOINT} to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file: one line, no traceback
        raise HycoError(f"{path}: unreadable checkpoint ({exc.__class__.__name__})") from None
