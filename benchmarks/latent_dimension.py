"""How many numbers per 16 x 16 block a picture needs: a linear bound on the latent's size.

The image codecs' latent has M channels at 1/16 of the resolution, M numbers for every
16 x 16 x 3 = 768 pixel values. Whatever the transforms learn, fewer dimensions than the
picture needs cap the fidelity at any rate. This measures the linear version of that cap:
the principal components of 16 x 16 blocks of the training corpus (up to 400 blocks a
picture), and the PSNR of each validation picture rebuilt from its first k components.
A learned non-linear transform with overlapping receptive fields can do better than this
bound at equal k, so it is a guide, not a ceiling.

    python benchmarks/latent_dimension.py cache/corpus cache/corpus_val --k 96 192 256 320
"""

from __future__ import annotations

import argparse

import numpy as np

from hyco.files import to_array
from hyco.train.data import list_images

BLOCK = 16


def blocks(arr: np.ndarray) -> np.ndarray:
    """(n, 768) float64 blocks of a picture, row-major, its edges cut to whole blocks."""
    h, w = arr.shape[0] // BLOCK * BLOCK, arr.shape[1] // BLOCK * BLOCK
    a = arr[:h, :w].astype(np.float64)
    a = a.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3).transpose(0, 2, 1, 3, 4)
    return a.reshape(-1, BLOCK * BLOCK * 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", help="training pictures (the components are fitted here)")
    ap.add_argument("val", help="pictures to rebuild (never the corpus)")
    ap.add_argument("--k", type=int, nargs="+", default=[96, 192, 256, 320])
    ap.add_argument("--per-image", type=int, default=400, help="blocks drawn per picture")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    fit = []
    for f in list_images(args.corpus):
        b = blocks(to_array(f)[0])
        fit.append(b[rng.choice(len(b), min(len(b), args.per_image), replace=False)])
    data = np.concatenate(fit)
    mean = data.mean(0)
    _, vectors = np.linalg.eigh(np.cov((data - mean).T))
    vectors = vectors[:, ::-1]  # largest variance first
    print(f"{len(data)} blocks of {len(fit)} pictures; PSNR (dB) rebuilt from k components")
    print("| picture | " + " | ".join(f"k = {k}" for k in args.k) + " |")
    print("|---|" + "---|" * len(args.k))
    means = np.zeros(len(args.k))
    files = list_images(args.val)
    for f in files:
        b = blocks(to_array(f)[0])
        cells = []
        for i, k in enumerate(args.k):
            v = vectors[:, :k]
            rebuilt = np.clip((b - mean) @ v @ v.T + mean, 0, 255)
            db = 10 * np.log10(255.0**2 / np.mean((rebuilt - b) ** 2))
            means[i] += db / len(files)
            cells.append(f"{db:.2f}")
        print(f"| {f.name} | " + " | ".join(cells) + " |")
    print("| mean | " + " | ".join(f"{v:.2f}" for v in means) + " |")


if __name__ == "__main__":
    main()
