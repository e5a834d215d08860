"""`hyco eval`: rate-distortion sweeps of learned and classical codecs on a folder of images.

For every codec, quality and image: bits per pixel from the bytes of the real file, the
learned codecs' own likelihood estimate beside it, RGB PSNR and MS-SSIM of the decoded
image, and encode/decode seconds. Averages follow CompressAI: per-image PSNR, then mean.

Outputs in RESULTS_DIR (schema in docs of :func:`evaluate`): one ``<codec>.json`` per codec
(CompressAI-compatible ``results`` block plus ``per_image``), ``results.csv`` (per image),
``summary.csv`` (averages), ``rd.png``, ``bd_rate.md``/``bd_rate.csv`` and, for learned
codecs, ``complexity.md``. Re-running skips every (codec, quality, image) already measured.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hyco import api, zoo
from hyco.errors import HycoError
from hyco.eval.bd import bd_quality, bd_rate
from hyco.eval.classical import CODECS
from hyco.eval.metrics import ms_ssim, psnr
from hyco.files import array_to_tensor, to_array
from hyco.train.data import list_images
from hyco.train.losses import bits_per_pixel

CONVENTION = ("bpp = 8 * file bytes / pixels, mean over images; psnr = mean of per-image RGB "
              "PSNR (MAX=255); ms-ssim = mean of per-image RGB MS-SSIM")


class CodecUnavailable(HycoError):
    """A known codec that cannot run on this machine (missing library or tool)."""


@dataclass
class Codec:
    key: str  # as given on the command line, without @qualities
    description: str
    qualities: list
    encode: Callable[[np.ndarray, object], bytes]
    decode: Callable[[bytes], np.ndarray]
    estimate: Callable[[np.ndarray, object], float] | None = None
    complexity: Callable[[object], dict] | None = None

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", self.key)


def _learned(name: str, weights: str | None, key: str | None = None,
             refine: int = 0, search_hyper: int = 0) -> Codec:
    spec = zoo.spec(name)
    if refine or search_hyper:
        from hyco.image.latent_search import check_searches

        check_searches(spec.cls, refine, search_hyper)

    def model(q):
        return api.load_model(name, q, weights)

    def estimate(arr: np.ndarray, q) -> float:
        with torch.no_grad():
            out = model(q)(array_to_tensor(arr))
        return float(bits_per_pixel(out["likelihoods"], arr.shape[0] * arr.shape[1]))

    def complexity(q) -> dict:
        from hyco.eval.complexity import complexity as count

        return count(model(q))

    trained = all(zoo.is_trained(name, q) for q in spec.qualities) or weights is not None
    return Codec(
        key=key or f"hyco:{name}", description=f"hyco {name} ({spec.paper})"
        + (f", {refine} steps of latent search" if refine else "")
        + (f", {search_hyper} steps of hyper-latent search" if search_hyper else "")
        + ("" if trained else " [untrained: random weights]"),
        qualities=list(spec.qualities),
        encode=lambda arr, q: api.compress_array(arr, 3, name, q, weights, refine=refine,
                                                 search_hyper=search_hyper),
        decode=lambda data: api.decode(data, weights).array,
        estimate=estimate, complexity=complexity)


def resolve(spec: str, weights: str | None = None) -> Codec:
    """``jpeg``, ``hyco:mean-scale``, optionally ``@q1,q2,...`` to choose qualities;
    ``hyco:path/to/weights.safetensors`` evaluates a trained file (model and quality from
    its metadata); ``hyco:...+refine=N`` encodes with N steps of latent search
    (:mod:`hyco.image.latent_search`), ``hyco:...+hyper=N`` with N of the hyper-latent's
    alone, each a curve of its own beside the plain one."""
    key, _, qs = spec.partition("@")
    key, tag, steps = key.partition("+refine=")
    if not tag:
        key, tag, steps = key.partition("+hyper=")
    n = 0
    if tag:
        try:
            n = int(steps)
        except ValueError:
            raise HycoError(f"bad {tag[1:-1]} steps in {spec!r} (want hyco:MODEL{tag}20)") \
                from None
        if not key.startswith("hyco:"):
            raise HycoError(f"{spec!r}: {tag[:-1]} is for learned codecs (hyco:...)")
    suffix = f"{tag}{n}" if tag else ""
    searches = {"refine": n if tag == "+refine=" else 0,
                "search_hyper": n if tag == "+hyper=" else 0}
    if key.startswith("hyco:") and key.endswith(".safetensors"):
        meta = zoo.weights_metadata(key[5:])
        if "model" not in meta or "quality" not in meta:
            raise HycoError(f"{key[5:]}: weights without hyco model/quality metadata")
        codec = _learned(meta["model"], key[5:], f"hyco:{Path(key[5:]).stem}{suffix}",
                         **searches)
        codec.qualities = [zoo.parse_quality(meta["model"], meta["quality"])]
    elif key.startswith("hyco:"):
        codec = _learned(key[5:], weights, f"{key}{suffix}", **searches)
    elif key in CODECS:
        c = CODECS[key]
        reason = c.missing()
        if reason:
            raise CodecUnavailable(f"codec {key} unavailable: {reason}")
        codec = Codec(key=key, description=c.description, qualities=list(c.qualities),
                      encode=c.encode, decode=c.decode)
    else:
        known = ", ".join([*CODECS, *(f"hyco:{m}" for m in zoo.MODELS)])
        raise HycoError(f"unknown codec {key!r} (known: {known})")
    if (qs and key.startswith("hyco:") and not key.endswith(".safetensors")
            and zoo.spec(key[5:]).named):  # named qualities: hyco:hific@low,med
        codec.qualities = [zoo.parse_quality(key[5:], q) for q in qs.split(",")]
    elif qs:
        try:
            codec.qualities = [int(q) for q in qs.split(",")]
        except ValueError:
            raise HycoError(f"bad qualities in {spec!r} (want NAME@1,2,3)") from None
    return codec


def _measure(codec: Codec, arr: np.ndarray, q) -> dict:
    t0 = time.perf_counter()
    data = codec.encode(arr, q)
    t1 = time.perf_counter()
    rec = codec.decode(data)
    t2 = time.perf_counter()
    if rec.shape != arr.shape:
        raise HycoError(f"{codec.key} decoded {rec.shape}, expected {arr.shape}")
    x = array_to_tensor(arr) * 255
    y = array_to_tensor(rec) * 255
    row = {"bytes": len(data), "bpp": 8 * len(data) / (arr.shape[0] * arr.shape[1]),
           "psnr": psnr(rec, arr), "ms-ssim": float(ms_ssim(x, y, peak=255.0)[0]),
           "encoding_time": t1 - t0, "decoding_time": t2 - t1}
    if codec.estimate is not None:
        row["est_bpp"] = codec.estimate(arr, q)
    return row


def _summarise(per_image: dict) -> dict:
    """{quality: {image: row}} -> CompressAI-style lists over qualities (sorted by bpp)."""
    rows = []
    for q, images in per_image.items():
        vals = list(images.values())
        if not vals:
            continue
        mean = {k: float(np.mean([v[k] for v in vals])) for k in vals[0] if k != "bytes"}
        rows.append((q, mean))
    rows.sort(key=lambda r: r[1]["bpp"])
    keys = list(rows[0][1]) if rows else []
    out = {"quality": [q for q, _ in rows]}
    out.update({k: [r[1][k] for r in rows] for k in keys})
    return out


def load_curve(path: Path) -> dict:
    """A results JSON (ours or CompressAI's) -> {name, bpp, psnr, ms-ssim?, published}.

    A file an earlier `hyco eval` wrote (its convention line is ours) is a measurement, even
    when committed without its per-image block, so it is not labelled as published."""
    d = json.loads(Path(path).read_text())
    r = d["results"]
    ours = "per_image" in d or d.get("metric_convention") == CONVENTION
    return {"name": d.get("name", Path(path).stem), "bpp": r["bpp"], "psnr": r["psnr"],
            "ms-ssim": r.get("ms-ssim"), "published": not ours}


def evaluate(dataset: str | Path, specs: list[str], out: str | Path,
             qualities: list | None = None, weights: str | None = None,
             anchor: str | None = None, published: list[Path] | None = None,
             limit: int | None = None) -> dict[str, dict]:
    """Run (or resume) the sweep; returns {codec key: results dict}."""
    images = list_images(dataset)[:limit]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    codecs = []
    for s in specs:
        try:
            codecs.append(resolve(s, weights))
        except CodecUnavailable as exc:  # e.g. no ffmpeg/libx265 here: skip, say so
            tqdm.write(f"note: {exc}; skipped", file=sys.stderr)
    if not codecs:
        raise HycoError("no codec left to evaluate")
    specs = [s for s in specs if s.partition("@")[0] in {c.key for c in codecs}
             or s.partition("@")[0].endswith(".safetensors")]
    if qualities:
        for c in codecs:
            if "@" not in next(s for s in specs if s.partition("@")[0] == c.key):
                c.qualities = list(qualities)
    loaded = [(p.name, to_array(p)[0]) for p in images]
    todo = sum(len(c.qualities) for c in codecs) * len(loaded)
    results: dict[str, dict] = {}
    bar = tqdm(total=todo, unit="img", desc="eval", dynamic_ncols=True)
    for codec in codecs:
        path = out / f"{codec.slug}.json"
        doc = json.loads(path.read_text()) if path.exists() else {}
        per_image = doc.get("per_image", {})
        for q in codec.qualities:
            done = per_image.setdefault(str(q), {})
            for name, arr in loaded:
                bar.set_postfix_str(f"{codec.key} q{q} {name}")
                if name not in done:
                    done[name] = _measure(codec, arr, q)
                bar.update(1)
            doc = {"name": codec.key, "description": codec.description,
                   "dataset": str(dataset), "metric_convention": CONVENTION,
                   "results": _summarise({x: per_image[str(x)] for x in codec.qualities
                                          if str(x) in per_image}),
                   "per_image": per_image}
            if codec.complexity is not None:
                doc["complexity"] = {str(x): codec.complexity(x) for x in codec.qualities[:1]}
            path.write_text(json.dumps(doc, indent=1))
        results[codec.key] = doc
    bar.close()
    _write_csv(out, results)
    curves = [{"name": k, "bpp": d["results"]["bpp"], "psnr": d["results"]["psnr"],
               "ms-ssim": d["results"]["ms-ssim"], "published": False}
              for k, d in results.items()]
    for p in published or []:
        curves.append(load_curve(p))
    write_bd_table(out, curves, anchor or codecs[0].key)
    _write_complexity(out, results)
    try:
        from hyco.eval.plots import rd_plot

        rd_plot(curves, out / "rd.png", title=f"{Path(dataset).name} ({len(loaded)} images)")
    except ImportError:
        tqdm.write("matplotlib is not installed: rd.png skipped")
    return results


def _write_csv(out: Path, results: dict) -> None:
    with (out / "results.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["codec", "quality", "image", "bytes", "bpp", "est_bpp", "psnr", "ms_ssim",
                    "encode_s", "decode_s"])
        for key, doc in results.items():
            for q, images in doc["per_image"].items():
                for name, r in images.items():
                    w.writerow([key, q, name, r["bytes"], r["bpp"], r.get("est_bpp", ""),
                                r["psnr"], r["ms-ssim"], r["encoding_time"], r["decoding_time"]])
    with (out / "summary.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["codec", "quality", "bpp", "est_bpp", "psnr", "ms_ssim", "encode_s",
                    "decode_s"])
        for key, doc in results.items():
            r = doc["results"]
            for i, q in enumerate(r["quality"]):
                w.writerow([key, q, r["bpp"][i], r["est_bpp"][i] if "est_bpp" in r else "",
                            r["psnr"][i], r["ms-ssim"][i], r["encoding_time"][i],
                            r["decoding_time"][i]])


def write_bd_table(out: Path, curves: list[dict], anchor: str) -> list[dict]:
    """BD-rate (PSNR and MS-SSIM) and BD-PSNR of every curve against ``anchor``."""
    ref = next((c for c in curves if c["name"] == anchor), None)
    if ref is None:
        raise HycoError(f"anchor {anchor!r} is not among the curves")
    rows = []
    for c in curves:
        row = {"codec": c["name"] + (" (published)" if c["published"] else ""),
               "bd_rate_psnr": bd_rate(ref["bpp"], ref["psnr"], c["bpp"], c["psnr"]),
               "bd_psnr_db": bd_quality(ref["bpp"], ref["psnr"], c["bpp"], c["psnr"]),
               "bd_rate_msssim": float("nan")}
        if c.get("ms-ssim") and ref.get("ms-ssim"):
            # MS-SSIM in dB, -10 log10(1 - x), as is usual for BD on MS-SSIM
            def db(v):
                return [-10 * np.log10(max(1 - x, 1e-12)) for x in v]

            row["bd_rate_msssim"] = bd_rate(ref["bpp"], db(ref["ms-ssim"]), c["bpp"],
                                            db(c["ms-ssim"]))
        rows.append(row)
    with (out / "bd_rate.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [f"BD against **{anchor}** (Bjøntegaard, PCHIP on log-rate over the overlap; "
             "negative BD-rate = fewer bits)", "",
             "| codec | BD-rate (PSNR) | BD-PSNR | BD-rate (MS-SSIM dB) |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['codec']} | {r['bd_rate_psnr']:+.1f} % | {r['bd_psnr_db']:+.2f} dB "
                     f"| {r['bd_rate_msssim']:+.1f} % |")
    (out / "bd_rate.md").write_text("\n".join(lines) + "\n")
    return rows


def _write_complexity(out: Path, results: dict) -> None:
    lines = ["| codec | quality | encoder params | decoder params | encoder MACs/px | "
             "decoder MACs/px |", "|---|---|---|---|---|---|"]
    n = 0
    for key, doc in results.items():
        for q, c in doc.get("complexity", {}).items():
            n += 1
            lines.append(f"| {key} | {q} | {c['encoder_params'] / 1e6:.2f} M | "
                         f"{c['decoder_params'] / 1e6:.2f} M | "
                         f"{c['encoder_macs_per_pixel'] / 1e3:.1f} k | "
                         f"{c['decoder_macs_per_pixel'] / 1e3:.1f} k |")
    if n:
        (out / "complexity.md").write_text("\n".join(lines) + "\n")
