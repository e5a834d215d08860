"""RD plots: PSNR and MS-SSIM (dB) against bits per pixel; published curves dashed."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def rd_plot(curves: list[dict], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(15, 5.6))
    colors = list(plt.cm.tab20.colors) + list(plt.cm.tab20b.colors)
    for ax in axes:
        ax.set_prop_cycle(color=colors)
    for c in curves:
        style = dict(linestyle="--", marker=".", alpha=0.7) if c["published"] else dict(
            linestyle="-", marker="o", markersize=4)
        label = c["name"] + (" (published)" if c["published"] else "")
        order = np.argsort(c["bpp"])
        bpp = np.asarray(c["bpp"])[order]
        axes[0].plot(bpp, np.asarray(c["psnr"])[order], label=label, **style)
        if c.get("ms-ssim"):
            ms = np.asarray(c["ms-ssim"])[order]
            axes[1].plot(bpp, -10 * np.log10(np.maximum(1 - ms, 1e-12)), label=label, **style)
    for ax, ylabel in zip(axes, ["RGB PSNR (dB)", "MS-SSIM (dB)"], strict=True):
        ax.set_xlabel("bits per pixel (file size)")
        ax.set_ylabel(ylabel)
        ax.set_xlim(0, 2.0)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
