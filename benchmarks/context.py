"""Context-model benchmark: hyco's checkerboard and joint autoregressive codecs on one image.

Measures, on CPU, in one run, on a 768x512 Kodak image:

1. Encode/decode time (best of N after one warm-up), stream bytes, parameters and MACs/pixel
   of hyco's FactorizedPrior, ScaleHyperprior, MeanScaleHyperprior, Checkerboard and
   JointAutoregressive at N=192, M=320 (random-init weights, ``torch.manual_seed(0)``), and of
   the last three at N=M=192; decode time relative to MeanScaleHyperprior of the same size
   (goal for checkerboard: <= 1.5x); and whether the eval forward reproduces the decode.
2. CompressAI's ``mbt2018`` (joint autoregressive, quality 6: N=192, M=320, random init),
   compress/decompress timed in the same run; hyco joint-AR / mbt2018 (goal: <= 1/3).

CompressAI is loaded as in ``benchmarks/foundation.py`` (``bash benchmarks/setup_compressai.sh``
installs it); when it is unavailable its rows are skipped.

Usage: python benchmarks/context.py [--threads 2] [--repeats 3] [--cai-repeats 1] [--json out]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))

import foundation  # noqa: E402  (benchmarks/foundation.py: environment, loading, timing)

import hyco  # noqa: E402
from hyco.eval.complexity import complexity  # noqa: E402
from hyco.image import (  # noqa: E402
    Checkerboard,
    FactorizedPrior,
    ImageCodec,
    JointAutoregressive,
    MeanScaleHyperprior,
    ScaleHyperprior,
)

SEED = 0
CAI_QUALITY = 6  # mbt2018 quality 6: N=192, M=320


@dataclass(frozen=True)
class Spec:
    """One hyco codec to benchmark: its class and channel sizes."""

    cls: type[ImageCodec]
    n: int
    m: int

    @property
    def label(self) -> str:
        return f"{self.cls.__name__}({self.n}, {self.m})"


SPECS = (
    Spec(FactorizedPrior, 192, 320),
    Spec(ScaleHyperprior, 192, 320),
    Spec(MeanScaleHyperprior, 192, 320),
    Spec(Checkerboard, 192, 320),
    Spec(JointAutoregressive, 192, 320),
    Spec(MeanScaleHyperprior, 192, 192),
    Spec(Checkerboard, 192, 192),
    Spec(JointAutoregressive, 192, 192),
)


def cpu_jiffies() -> tuple[int, int] | None:
    """(busy jiffies of the whole machine, jiffies of this process), or None off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError):
        return None
    busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # less idle, iowait
    return busy, int(own[11]) + int(own[12])  # utime + stime, all threads


def other_cpu_s(start: tuple[int, int] | None, end: tuple[int, int] | None) -> float | None:
    """CPU seconds that other processes used between two ``cpu_jiffies`` samples."""
    if start is None or end is None:
        return None
    return ((end[0] - start[0]) - (end[1] - start[1])) / os.sysconf("SC_CLK_TCK")


def with_load(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``fn()``'s row plus ``other_cpu_pct``: other processes' CPU use while it ran, in % of
    one core (a quiet machine reads ~0; more means the timings of that row are suspect)."""
    j0, t0 = cpu_jiffies(), time.perf_counter()
    row = fn()
    other = other_cpu_s(j0, cpu_jiffies())
    row["other_cpu_pct"] = None if other is None else 100 * other / (time.perf_counter() - t0)
    return row


def log(msg: str) -> None:
    """Progress to stderr, so stdout holds only the report."""
    print(msg, file=sys.stderr, flush=True)


# -- measurements ----------------------------------------------------------------------------
def bench_hyco(x: torch.Tensor, spec: Spec, repeats: int) -> dict[str, Any]:
    """Timings, stream bytes, forward == decode check and complexity of one hyco codec."""
    torch.manual_seed(SEED)
    model = spec.cls(spec.n, spec.m).eval()
    enc_s, payload = foundation.best_of(lambda: model.compress(x), repeats)
    dec_s, decoded = foundation.best_of(lambda: model.decompress(payload), repeats)
    with torch.no_grad():
        forward_equal = bool(torch.equal(decoded, model(x)["x_hat"]))
    cx = complexity(model, int(x.shape[-2]), int(x.shape[-1]))  # last: it runs a train forward
    return {"codec": spec.cls.__name__, "N": spec.n, "M": spec.m, "encode_s": enc_s,
            "decode_s": dec_s, "stream_bytes": sum(len(s) for s in payload.streams),
            "forward_equals_decode": forward_equal, **cx}


def bench_mbt2018(x: torch.Tensor, repeats: int) -> dict[str, Any]:
    """CompressAI mbt2018 (quality 6, random init): compress/decompress, no warm-up."""
    import compressai.zoo as czoo

    h, w = x.shape[-2:]
    xp = F.pad(x, (0, (-w) % 64, 0, (-h) % 64), mode="replicate")  # no-op at 768x512
    torch.manual_seed(SEED)
    model = czoo.mbt2018(quality=CAI_QUALITY, pretrained=False).eval()
    model.update(force=True)
    with torch.no_grad():
        enc_s, out = foundation.best_of(lambda: model.compress(xp), repeats, warmup=0)
        dec_s, rec = foundation.best_of(
            lambda: model.decompress(out["strings"], out["shape"]), repeats, warmup=0)
    return {"codec": f"CompressAI mbt2018 q{CAI_QUALITY}", "N": int(model.N),
            "M": int(model.M), "encode_s": enc_s, "decode_s": dec_s,
            "stream_bytes": sum(len(s) for streams in out["strings"] for s in streams),
            "shape_ok": tuple(rec["x_hat"].shape) == tuple(xp.shape),
            "repeats": repeats}


def add_ratios(rows: list[dict[str, Any]], cai: dict[str, Any] | None) -> None:
    """Decode (and encode) time vs MeanScaleHyperprior of the same M, and vs mbt2018."""
    ref = {r["M"]: r for r in rows if r["codec"] == "MeanScaleHyperprior"}
    for r in rows:
        base = ref.get(r["M"])
        r["decode_vs_mean_scale"] = r["decode_s"] / base["decode_s"] if base else None
        r["encode_vs_mean_scale"] = r["encode_s"] / base["encode_s"] if base else None
        same = cai is not None and r["codec"] == "JointAutoregressive" and (
            r["N"], r["M"]) == (cai["N"], cai["M"])
        r["decode_vs_mbt2018"] = r["decode_s"] / cai["decode_s"] if same else None
        r["encode_vs_mbt2018"] = r["encode_s"] / cai["encode_s"] if same else None


# -- output ----------------------------------------------------------------------------------
def fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def fmt_load(row: dict[str, Any]) -> str:
    return "" if row.get("other_cpu_pct") is None else f"{row['other_cpu_pct']:.0f}%"


def report(rows: list[dict[str, Any]], cai: dict[str, Any] | None,
           size: tuple[int, int]) -> str:
    """Markdown tables: timings and ratios, then complexity."""
    timing = []
    for r in rows:
        timing.append([r["codec"], f"{r['N']}/{r['M']}", foundation.ms(r["encode_s"]),
                       foundation.ms(r["decode_s"]), r["stream_bytes"],
                       fmt_ratio(r["decode_vs_mean_scale"]),
                       fmt_ratio(r["decode_vs_mbt2018"]), fmt_ratio(r["encode_vs_mbt2018"]),
                       "yes" if r["forward_equals_decode"] else "no", fmt_load(r)])
    if cai is not None:
        timing.append([cai["codec"], f"{cai['N']}/{cai['M']}", foundation.ms(cai["encode_s"]),
                       foundation.ms(cai["decode_s"]), cai["stream_bytes"], "", "", "", "",
                       fmt_load(cai)])
    cx = [[r["codec"], f"{r['N']}/{r['M']}", f"{r['encoder_params'] / 1e6:.2f}",
           f"{r['decoder_params'] / 1e6:.2f}", f"{r['encoder_macs_per_pixel'] / 1e3:.1f}",
           f"{r['decoder_macs_per_pixel'] / 1e3:.1f}"] for r in rows]
    h, w = size
    return (
        f"### Codecs on a {w}x{h} image (random-init weights)\n\n"
        + foundation.table(
            ["codec", "N/M", "encode ms", "decode ms", "stream bytes",
             "dec / mean-scale", "dec / mbt2018", "enc / mbt2018", "forward == decode",
             "other CPU"],
            timing)
        + "\n\n### Complexity (hyco.eval.complexity)\n\n"
        + foundation.table(
            ["codec", "N/M", "enc params (M)", "dec params (M)", "enc kMAC/px",
             "dec kMAC/px"], cx))


def summary(rows: list[dict[str, Any]], cai: dict[str, Any] | None) -> str:
    """The goals, one line each."""
    lines = []
    for r in rows:
        if r["codec"] == "Checkerboard":
            ok = r["decode_vs_mean_scale"] <= 1.5
            lines.append(f"- Checkerboard {r['N']}/{r['M']} decode / MeanScaleHyperprior: "
                         f"{r['decode_vs_mean_scale']:.2f}x (goal <= 1.5x: "
                         f"{'met' if ok else 'NOT met'})")
        if r["decode_vs_mbt2018"] is not None:
            ok = r["decode_vs_mbt2018"] <= 1 / 3
            lines.append(f"- JointAutoregressive {r['N']}/{r['M']} / CompressAI mbt2018: "
                         f"decode {r['decode_vs_mbt2018']:.3f}x, encode "
                         f"{r['encode_vs_mbt2018']:.3f}x (goal <= 0.333x: "
                         f"{'met' if ok else 'NOT met'})")
    if cai is None:
        lines.append("- CompressAI mbt2018: skipped")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--repeats", type=int, default=3,
                   help="hyco timings: best of N after one warm-up (default 3)")
    p.add_argument("--cai-repeats", type=int, default=1,
                   help="CompressAI mbt2018 timings: best of N, no warm-up (default 1)")
    p.add_argument("--image", type=Path, default=foundation.DEFAULT_IMAGE, help="the image")
    p.add_argument("--no-compressai", action="store_true", help="skip CompressAI")
    p.add_argument("--only", nargs="+", metavar="CLASS", help="hyco classes to run (testing)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    cai_mod: types.ModuleType | None
    cai_mod, cai_note = foundation.load_compressai(not args.no_compressai)
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "hyco": getattr(hyco, "__version__", "?"), "threads": torch.get_num_threads(),
           "cpu": foundation.cpu_model(), "compressai": cai_note}
    print("## hyco context-model benchmark\n")
    for k, v in env.items():
        print(f"- {k}: {v}")
    print(flush=True)

    t0, j0 = time.perf_counter(), cpu_jiffies()
    x = foundation.load_image(args.image)
    size = (int(x.shape[-2]), int(x.shape[-1]))
    specs = [s for s in SPECS if not args.only or s.cls.__name__ in args.only]
    rows = []
    for spec in specs:
        log(f"hyco {spec.label} ...")
        rows.append(with_load(lambda s=spec: bench_hyco(x, s, args.repeats)))
    cai: dict[str, Any] | None = None
    if cai_mod is not None:
        log(f"CompressAI mbt2018 q{CAI_QUALITY} ...")
        cai = with_load(lambda: bench_mbt2018(x, args.cai_repeats))
    add_ratios(rows, cai)
    total_s, other_s = time.perf_counter() - t0, other_cpu_s(j0, cpu_jiffies())

    print(report(rows, cai, size) + "\n")
    print(summary(rows, cai) + "\n")
    print(f"(total {total_s:.0f} s; hyco: best of {args.repeats} after a warm-up; CompressAI: "
          f"best of {args.cai_repeats}, no warm-up; wall clock)")
    if other_s is not None:
        print(f"(other processes used {other_s:.0f} CPU s during the run: "
              f"{100 * other_s / total_s:.0f}% of one core; per row: 'other CPU')")
    if args.json:
        results = {"env": env, "image": {"path": str(args.image), "height": size[0],
                                         "width": size[1]},
                   "repeats": args.repeats, "cai_repeats": args.cai_repeats,
                   "hyco": rows, "compressai_mbt2018": cai, "total_s": total_s,
                   "other_processes_cpu_s": other_s}
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
