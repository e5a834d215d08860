"""Carry the training corpus to a machine with a small transfer limit, and rebuild it there.

The corpus (recipes/build_corpus.py) is 265 MB of PNG: most photographs at several scales.
A lent GPU machine takes a 64 MiB working tree and cannot download the Debian packages, so
``pack`` keeps the largest copy of each photograph only, as JPEG quality 95 without chroma
subsampling (40 MB; 38.3 dB PSNR at worst, median 45.8 dB, far above the 27-35 dB the
codecs reach), with a manifest of every file's name and size; ``unpack`` recreates each
listed copy by a Lanczos downscale of that one, in parallel. The smaller copies are then
within a rounding of the originals (downscaling averages the JPEG error away); only the
largest carries the JPEG error.

    python recipes/pack_corpus.py pack cache/corpus PACKED
    python recipes/pack_corpus.py unpack PACKED cache/corpus
"""

from __future__ import annotations

import argparse
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

SIZED = re.compile(r"(.+)_(\d+)x(\d+)\.png$")  # build_corpus.py's STEM_WxH.png
MANIFEST = "manifest.txt"


def _stem(name: str) -> tuple[str, int]:
    m = SIZED.match(name)
    return (m.group(1), int(m.group(2)) * int(m.group(3))) if m else (Path(name).stem, 0)


def pack(src: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in src.glob("*.png"))
    largest: dict[str, tuple[int, str]] = {}
    for n in names:
        stem, area = _stem(n)
        if stem not in largest or area > largest[stem][0]:
            largest[stem] = (area, n)
    for stem, (_, n) in largest.items():
        Image.open(src / n).convert("RGB").save(out / f"{stem}.jpg", quality=95, subsampling=0)
    (out / MANIFEST).write_text("\n".join(names) + "\n")
    print(f"{len(names)} files as {len(largest)} JPEGs in {out}")


def _rebuild(job: tuple[Path, Path, str]) -> None:
    packed, out, name = job
    stem, _ = _stem(name)
    im = Image.open(packed / f"{stem}.jpg").convert("RGB")
    m = SIZED.match(name)
    size = (int(m.group(2)), int(m.group(3))) if m else im.size
    if size != im.size:
        im = im.resize(size, Image.LANCZOS)
    im.save(out / name, compress_level=1)


def unpack(packed: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names = (packed / MANIFEST).read_text().split()
    with ProcessPoolExecutor() as pool:
        list(pool.map(_rebuild, [(packed, out, n) for n in names]))
    print(f"{len(names)} files in {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["pack", "unpack"])
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    a = ap.parse_args()
    (pack if a.action == "pack" else unpack)(a.src, a.out)


if __name__ == "__main__":
    main()
