"""Run logs: a CSV per stream and TensorBoard events (when tensorboardX is installed)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


class RunLog:
    """Appends rows to ``RUNDIR/<stream>.csv`` and scalars/images to TensorBoard."""

    def __init__(self, rundir: Path, enabled: bool = True):
        self.rundir = rundir
        self.enabled = enabled
        self._tb = None
        if enabled:
            try:
                from tensorboardX import SummaryWriter

                self._tb = SummaryWriter(str(rundir / "tensorboard"))
            except ImportError:  # CSV logs still cover everything
                self._tb = None

    def row(self, stream: str, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        path = self.rundir / f"{stream}.csv"
        fields = ["step", *values]
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            if new:
                w.writeheader()
            w.writerow({"step": step, **values})
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(f"{stream}/{k}", v, step)

    def image(self, tag: str, step: int, arr: np.ndarray) -> None:
        if self.enabled and self._tb is not None:
            self._tb.add_image(tag, arr, step, dataformats="HWC")

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
