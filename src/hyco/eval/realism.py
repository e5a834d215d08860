"""Realism without pretrained networks: how close a reconstruction's image statistics are to
the original's.

A decoder trained for MSE averages over the textures it cannot afford to transmit, so its
reconstructions lack high-frequency energy and their gradients are too small; a generative
decoder (HiFiC) synthesises texture with the right statistics even where the exact pixels
differ. Two measures of that, both computed on luma (BT.601, 0..255) and needing no learned
features (FID/LPIPS need ImageNet-trained networks that hyco cannot download):

* **Spectrum gap** (dB): the radially averaged power spectrum (Hann-windowed FFT, power
  averaged over rings of equal spatial frequency) of the reconstruction against the
  original's, ``10 log10(P_rec / P_orig)`` averaged over the high-frequency band (by default
  0.25 .. 0.5 cycles/pixel). 0 dB: as much fine detail as the original; blur is negative.
* **Gradient-histogram distance** (bits): the Jensen-Shannon divergence between the
  histograms of gradient magnitudes |(dx, dy)| (forward differences, fixed log-spaced bins)
  of reconstruction and original. 0 for identical statistics, 1 at most; blur moves mass to
  small gradients and raises it.

Both are distributional: a reconstruction can score well with different pixels, which is the
point (PSNR/MS-SSIM measure pixel fidelity and are reported beside them, never replaced).
"""

from __future__ import annotations

import numpy as np

HIGH_BAND = (0.25, 0.5)
_GRAD_EDGES = np.concatenate([[0.0], np.geomspace(0.5, 256.0, 40), [np.inf]])


def luma(arr: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 (or float 0..255) RGB -> HxW float64 luma (BT.601)."""
    a = np.asarray(arr, dtype=np.float64)
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


def radial_power_spectrum(gray: np.ndarray, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(frequency centres in cycles/pixel, mean power per ring) of a 2-D image.

    The mean is removed and a 2-D Hann window applied first, so the image border does not
    add a cross of spurious high frequencies.
    """
    g = np.asarray(gray, dtype=np.float64)
    h, w = g.shape
    if min(h, w) < 8:
        raise ValueError("the power spectrum needs an image of at least 8x8 pixels")
    window = np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2((g - g.mean()) * window)) ** 2 / window.sum() ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    edges = np.linspace(0.0, 0.5, bins + 1)
    ring = np.digitize(radius, edges) - 1
    valid = (ring >= 0) & (ring < bins)
    total = np.bincount(ring[valid], weights=power[valid], minlength=bins)
    count = np.bincount(ring[valid], minlength=bins)
    return (edges[:-1] + edges[1:]) / 2, total / np.maximum(count, 1)


def spectrum_gap_db(rec: np.ndarray, orig: np.ndarray,
                    band: tuple[float, float] = HIGH_BAND) -> float:
    """Mean of 10 log10(P_rec / P_orig) over the frequency rings inside ``band``."""
    f, p_rec = radial_power_spectrum(luma(rec))
    _, p_orig = radial_power_spectrum(luma(orig))
    keep = (f >= band[0]) & (f <= band[1]) & (p_orig > 0)
    tiny = 1e-12
    return float(np.mean(10 * np.log10((p_rec[keep] + tiny) / (p_orig[keep] + tiny))))


def gradient_histogram(gray: np.ndarray) -> np.ndarray:
    """Normalised histogram of gradient magnitudes over fixed log-spaced bins."""
    g = np.asarray(gray, dtype=np.float64)
    dx = g[:-1, 1:] - g[:-1, :-1]
    dy = g[1:, :-1] - g[:-1, :-1]
    hist, _ = np.histogram(np.hypot(dx, dy), bins=_GRAD_EDGES)
    return hist / max(hist.sum(), 1)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0 .. 1) of two normalised histograms."""
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return (kl(p) + kl(q)) / 2


def gradient_js(rec: np.ndarray, orig: np.ndarray) -> float:
    return js_divergence(gradient_histogram(luma(rec)), gradient_histogram(luma(orig)))


def realism(rec: np.ndarray, orig: np.ndarray) -> dict[str, float]:
    """Both statistics of one reconstruction against its original (HxWx3 uint8 each)."""
    if np.shape(rec) != np.shape(orig):
        raise ValueError(f"shapes differ: {np.shape(rec)} vs {np.shape(orig)}")
    return {"spectrum_gap_db": spectrum_gap_db(rec, orig),
            "gradient_js": gradient_js(rec, orig)}
