"""Progressive decoding of a hierarchical VAE (qarv, qres-vae): a picture strip and a table.

Codes one image once, then decodes it from its first K latent streams for K = 1, 2, 4, ...,
all (the rest of the latents take their prior means). Each picture is decoded from the file
cut after stream K (header and the first K streams: a prefix of the file; the whole file for
K = all). For each K: the bytes of that prefix, their bpp, the PSNR of the picture and the
decode time. Writes ``strip.png`` (the pictures side by side, K under each),
``progressive.md`` (markdown table) and ``progressive.json`` into ``--out``.

Usage: python benchmarks/progressive.py IMAGE --model qarv --weights W.safetensors
       [--lmbda 512 | --quality Q] [--crop 512x384] [--out DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from hyco import api, container, zoo
from hyco.eval.metrics import psnr
from hyco.files import to_array


def ks(n: int) -> list[int]:
    """1, 2, 4, ... and n."""
    out, k = [], 1
    while k < n:
        out.append(k)
        k *= 2
    return [*out, n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image")
    ap.add_argument("--model", default="qarv")
    ap.add_argument("--weights")
    ap.add_argument("--lmbda", type=float, help="lambda-conditioned models (qarv)")
    ap.add_argument("--quality", help="default: the model's default quality")
    ap.add_argument("--crop", help="WxH centre crop for the strip (default: whole image)")
    ap.add_argument("--out", default="progressive")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    arr, channels = to_array(args.image)
    if args.crop:
        w, h = (int(v) for v in args.crop.lower().split("x"))
        top, left = (arr.shape[0] - h) // 2, (arr.shape[1] - w) // 2
        arr = np.ascontiguousarray(arr[top : top + h, left : left + w])
    quality = args.quality or zoo.spec(args.model).default_quality
    t0 = time.perf_counter()
    data = api.compress_array(arr, channels, args.model, quality, args.weights,
                              lmbda=args.lmbda)
    encode_s = time.perf_counter() - t0
    header, payload = container.unpack(data)
    pixels = arr.shape[0] * arr.shape[1]
    n = len(payload.streams)
    rows, pictures = [], []
    for k in ks(n):
        cut = data if k == n else data[: len(data) - 4 - sum(len(s) for s in payload.streams[k:])]
        t0 = time.perf_counter()
        rec = api.decode(cut, args.weights, layers=k).array
        seconds = time.perf_counter() - t0
        prefix = len(cut)
        rows.append({"layers": k, "bytes": prefix, "bpp": 8 * prefix / pixels,
                     "psnr": psnr(rec, arr), "decode_s": seconds})
        pictures.append(rec)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    label_h = 18
    strip = Image.new("RGB", (sum(p.shape[1] for p in pictures), arr.shape[0] + label_h),
                      "white")
    draw = ImageDraw.Draw(strip)
    x = 0
    for row, pic in zip(rows, pictures, strict=True):
        strip.paste(Image.fromarray(pic), (x, 0))
        draw.text((x + 4, arr.shape[0] + 3),
                  f"K={row['layers']}: {row['bpp']:.3f} bpp, {row['psnr']:.2f} dB", fill="black")
        x += pic.shape[1]
    strip.save(out / "strip.png")
    lines = [f"{args.model} at {header.quality}, {Path(args.image).name} "
             f"({arr.shape[1]}x{arr.shape[0]}), {n} latent streams; encode {encode_s:.2f} s", "",
             "| latent layers K | file prefix (bytes) | bpp | PSNR (dB) | decode (s) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['layers']} | {r['bytes']} | {r['bpp']:.4f} | {r['psnr']:.2f} | "
              f"{r['decode_s']:.2f} |" for r in rows]
    (out / "progressive.md").write_text("\n".join(lines) + "\n")
    (out / "progressive.json").write_text(json.dumps(
        {"model": args.model, "quality": header.quality, "image": args.image,
         "size": [arr.shape[1], arr.shape[0]], "encode_s": encode_s, "rows": rows}, indent=1))
    print("\n".join(lines))
    print(f"strip: {out / 'strip.png'}")


if __name__ == "__main__":
    main()
