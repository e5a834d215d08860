"""Foundation benchmark: entropy coding of one Kodak-sized latent and codec speed.

Measures, on CPU:

1. Coding one 192x32x48 Gaussian latent (realistic scales, fixed seed) with hyco's exact
   coder, against the ideal code length under the continuous scales; and, when CompressAI
   is available, its raw rANS coder and its ``GaussianConditional.compress`` path.
2. Encode/decode time of every hyco codec (random-init weights) at qualities 3 and 8 on a
   768x512 Kodak image, and of CompressAI's matching models at quality 3.

CompressAI is optional: ``bash benchmarks/setup_compressai.sh`` installs it (``--no-deps``)
into ``benchmarks/.compressai-site``, which this script puts on ``sys.path``; the modules
compressai imports at import time but never uses here (torchvision, torch_geometric, pandas,
requests) are stubbed when they are not installed.

Usage: python benchmarks/foundation.py [--threads 2] [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import math
import platform
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import hyco
from hyco.container import Header, overhead_bytes
from hyco.entropy.coder import decode, encode
from hyco.entropy.gaussian import gaussian_tables, scale_indices
from hyco.files import array_to_tensor, to_array
from hyco.nn.exact import FRAC_BITS
from hyco.zoo import MODELS, build

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COMPRESSAI_SITE = HERE / ".compressai-site"
DEFAULT_IMAGE = ROOT.parent / "shared" / "data" / "kodak" / "kodim23.png"
LATENT_SHAPE = (192, 32, 48)  # y of a 768x512 image at stride 16
LOG_SCALE_RANGE = (math.log(0.11), math.log(12.0))
SCALE_FLOOR = 0.11  # every model lower-bounds its scales here
SEED = 20240601
QUALITIES = (3, 8)
COMPRESSAI_MODELS = {  # hyco name -> compressai.zoo name (quality 3)
    "factorized": "bmshj2018_factorized",
    "hyperprior": "bmshj2018_hyperprior",
    "mean-scale": "mbt2018_mean",
}

# Modules compressai 1.2.8 imports at import time, with the submodules it imports.
_STUBBED = {
    "torchvision": ["torchvision.transforms"],
    "torch_geometric": ["torch_geometric.data", "torch_geometric.data.datapipes",
                        "torch_geometric.transforms"],
    "pandas": [],
    "requests": [],
}


# -- environment -----------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# -- CompressAI loading ----------------------------------------------------------------------
class _Stub:
    """Stands for any class, function or decorator of a stubbed module."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, obj: Any = None, *args: Any, **kwargs: Any) -> Any:
        return obj  # used as a decorator: leave the decorated object alone


def _stub_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name, f"benchmark stub for {name} (not installed)")
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, is_package=True)
    module.__path__ = []

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return type(attr, (_Stub,), {"__module__": name})

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module


def _install_stubs() -> list[str]:
    """Stub each missing module compressai imports but does not use here; returns names."""
    stubbed = []
    for top, subs in _STUBBED.items():
        if top in sys.modules or importlib.util.find_spec(top) is not None:
            continue
        for name in [top, *subs]:
            sys.modules[name] = _stub_module(name)
            parent, _, child = name.rpartition(".")
            if parent:
                setattr(sys.modules[parent], child, sys.modules[name])
        stubbed.append(top)
    return stubbed


def load_compressai(enabled: bool) -> tuple[types.ModuleType | None, str]:
    """Import compressai (from benchmarks/.compressai-site if present); (module, note)."""
    if not enabled:
        return None, "disabled (--no-compressai)"
    if COMPRESSAI_SITE.is_dir() and str(COMPRESSAI_SITE) not in sys.path:
        sys.path.append(str(COMPRESSAI_SITE))  # appended: never shadows the venv's packages
    if importlib.util.find_spec("compressai") is None:
        return None, "not installed (run: bash benchmarks/setup_compressai.sh)"
    stubbed = _install_stubs()
    try:
        import compressai
        import compressai.ans  # noqa: F401  (the compiled rANS coder)
    except Exception as exc:  # noqa: BLE001  (report any import failure, do not crash)
        return None, f"import failed: {type(exc).__name__}: {exc}"
    note = f"compressai {compressai.__version__}"
    if stubbed:
        note += f" (stubbed: {', '.join(stubbed)})"
    return compressai, note


# -- timing ----------------------------------------------------------------------------------
def best_of(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[float, Any]:
    """Best wall time in seconds of ``repeats`` calls after ``warmup`` calls; and a result."""
    result = None
    for _ in range(warmup):
        result = fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


# -- 1. entropy coding -----------------------------------------------------------------------
def make_latent(seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, scales) of shape LATENT_SHAPE: y ~ N(0, scale^2), float32.

    Log-scales: one per channel, uniform in LOG_SCALE_RANGE, plus a smooth spatial field
    (std ~0.5) and fine noise (std 0.2); scales are floored at SCALE_FLOOR like a model's.
    """
    g = torch.Generator().manual_seed(seed)
    c, h, w = LATENT_SHAPE
    lo, hi = LOG_SCALE_RANGE
    per_channel = lo + (hi - lo) * torch.rand(c, 1, 1, generator=g, dtype=torch.float64)
    coarse = torch.randn(1, c, h // 8, w // 8, generator=g, dtype=torch.float64)
    smooth = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[0]
    smooth = 0.5 * smooth / smooth.std()
    fine = 0.2 * torch.randn(c, h, w, generator=g, dtype=torch.float64)
    scales = torch.exp(per_channel + smooth + fine).clamp_min(SCALE_FLOOR)
    y = torch.randn(c, h, w, generator=g, dtype=torch.float64) * scales
    return y.float(), scales.float()


def ideal_bits(symbols: torch.Tensor, scales: torch.Tensor) -> float:
    """-sum log2 P(bin) of the discretised zero-mean Gaussian with the continuous scales."""
    v = symbols.abs().double()
    s = scales.double()
    upper = 0.5 * torch.erfc(-(0.5 - v) / s * 2**-0.5)  # symmetric: use the lower tail
    lower = 0.5 * torch.erfc(-(-0.5 - v) / s * 2**-0.5)
    return float(-torch.log2(upper - lower).sum())


def overhead_pct(n_bytes: int, ideal: float) -> float:
    return 100.0 * (8 * n_bytes - ideal) / ideal


def bench_entropy(cai: types.ModuleType | None, repeats: int) -> dict[str, Any]:
    """Time hyco's coder (and CompressAI's) on one latent; sizes vs the ideal bits."""
    y, scales = make_latent()
    symbols = torch.round(y)
    ideal = ideal_bits(symbols, scales)
    sym_np = symbols.to(torch.int64).numpy()
    rows: list[dict[str, Any]] = []

    t0 = time.perf_counter()
    tables = gaussian_tables()
    tables_s = time.perf_counter() - t0
    scales_fixed = torch.round(scales.double() * 2**FRAC_BITS).to(torch.int64)
    idx_np = scale_indices(scales_fixed).numpy()
    enc_s, data = best_of(lambda: encode(sym_np, idx_np, tables), repeats)
    dec_s, out = best_of(lambda: decode(data, idx_np, tables), repeats)
    rows.append({"coder": "hyco encode/decode (constriction ANS)", "encode_s": enc_s,
                 "decode_s": dec_s, "bytes": len(data),
                 "overhead_pct": overhead_pct(len(data), ideal),
                 "exact": bool(np.array_equal(out, sym_np))})
    result: dict[str, Any] = {
        "shape": list(LATENT_SHAPE), "symbols": int(symbols.numel()), "ideal_bits": ideal,
        "ideal_bytes": ideal / 8, "hyco_tables": len(tables), "hyco_tables_build_s": tables_s,
        "rows": rows,
    }
    if cai is None:
        return result

    from compressai.ans import RansDecoder, RansEncoder
    from compressai.entropy_models import GaussianConditional
    from compressai.models.google import get_scale_table

    gc = GaussianConditional(None)
    gc.update_scale_table(get_scale_table())
    gc.update()
    y4 = y[None]  # (1, C, H, W)
    indexes = gc.build_indexes(scales[None])
    cdfs = gc._quantized_cdf.tolist()
    cdf_lengths = gc._cdf_length.reshape(-1).int().tolist()
    offsets = gc._offset.reshape(-1).int().tolist()
    t0 = time.perf_counter()
    sym_list = symbols.reshape(-1).int().tolist()
    idx_list = indexes.reshape(-1).int().tolist()
    tolist_s = time.perf_counter() - t0
    enc, dec = RansEncoder(), RansDecoder()
    enc_s, data = best_of(
        lambda: enc.encode_with_indexes(sym_list, idx_list, cdfs, cdf_lengths, offsets), repeats)
    dec_s, out = best_of(
        lambda: dec.decode_with_indexes(data, idx_list, cdfs, cdf_lengths, offsets), repeats)
    rows.append({"coder": "CompressAI rANS encode/decode_with_indexes", "encode_s": enc_s,
                 "decode_s": dec_s, "bytes": len(data),
                 "overhead_pct": overhead_pct(len(data), ideal),
                 "exact": out == sym_list})

    with torch.no_grad():
        enc_s, strings = best_of(lambda: gc.compress(y4, indexes), repeats)
        dec_s, out = best_of(lambda: gc.decompress(strings, indexes), repeats)
    n_bytes = sum(len(s) for s in strings)
    rows.append({"coder": "CompressAI GaussianConditional.compress/decompress",
                 "encode_s": enc_s, "decode_s": dec_s, "bytes": n_bytes,
                 "overhead_pct": overhead_pct(n_bytes, ideal),
                 "exact": bool(torch.equal(out[0], symbols))})
    result["compressai_tables"] = len(gc.scale_table)
    result["compressai_list_conversion_s"] = tolist_s
    return result


# -- 2. codecs -------------------------------------------------------------------------------
def load_image(path: Path) -> torch.Tensor:
    arr, _ = to_array(path)
    return array_to_tensor(arr)


def bench_hyco_models(x: torch.Tensor, repeats: int) -> list[dict[str, Any]]:
    """compress/decompress time, stream and header bytes of every hyco codec and quality."""
    rows = []
    for name in MODELS:
        if MODELS[name].named:  # HiFiC's regimes, not numbered qualities: benchmarks/hific.py
            continue
        for q in QUALITIES:
            model = build(name, q).eval()
            enc_s, payload = best_of(lambda m=model: m.compress(x), repeats)
            dec_s, x_hat = best_of(lambda m=model, p=payload: m.decompress(p), repeats)
            header = Header(codec=model.name, quality=str(q), digest=model.digest(),
                            channels=3)
            rows.append({"codec": f"hyco {name}", "quality": q, "N": model.n, "M": model.m,
                         "encode_s": enc_s, "decode_s": dec_s,
                         "stream_bytes": sum(len(s) for s in payload.streams),
                         "header_bytes": overhead_bytes(header, payload),
                         "shape_ok": tuple(x_hat.shape) == tuple(x.shape)})
    return rows


def bench_compressai_models(x: torch.Tensor, repeats: int) -> list[dict[str, Any]]:
    """The CompressAI counterparts at quality 3 (random init, ``update()``d)."""
    import compressai.zoo as czoo

    h, w = x.shape[-2:]
    xp = F.pad(x, (0, (-w) % 64, 0, (-h) % 64), mode="replicate")
    rows = []
    for hyco_name, fn_name in COMPRESSAI_MODELS.items():
        torch.manual_seed(SEED)
        model = getattr(czoo, fn_name)(quality=3, pretrained=False).eval()
        model.update(force=True)
        with torch.no_grad():
            enc_s, out = best_of(lambda m=model: m.compress(xp), repeats)
            dec_s, rec = best_of(
                lambda m=model, o=out: m.decompress(o["strings"], o["shape"]), repeats)
        n_bytes = sum(len(s) for streams in out["strings"] for s in streams)
        rows.append({"codec": f"CompressAI {fn_name}", "hyco": hyco_name, "quality": 3,
                     "N": model.N if hasattr(model, "N") else None,
                     "M": model.M if hasattr(model, "M") else None,
                     "encode_s": enc_s, "decode_s": dec_s, "stream_bytes": n_bytes,
                     "header_bytes": None,
                     "shape_ok": tuple(rec["x_hat"].shape) == tuple(xp.shape)})
    return rows


# -- output ----------------------------------------------------------------------------------
def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A markdown table; floats are formatted by the caller."""
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{1000 * seconds:.1f}"


def ratio(a: float, b: float | None) -> str:
    return "" if not b else f"{a / b:.2f}x"


def report_entropy(res: dict[str, Any]) -> str:
    rows = res["rows"]
    hy = rows[0]
    out = []
    for r in rows:
        is_hyco = r is hy
        out.append([r["coder"], ms(r["encode_s"]), ms(r["decode_s"]), r["bytes"],
                    f"{r['overhead_pct']:+.2f}%", "yes" if r["exact"] else "NO",
                    "" if is_hyco else ratio(hy["encode_s"], r["encode_s"]),
                    "" if is_hyco else ratio(hy["decode_s"], r["decode_s"])])
    c, h, w = res["shape"]
    title = (f"### Entropy coding: one {c}x{h}x{w} Gaussian latent ({res['symbols']} symbols, "
             f"ideal {res['ideal_bytes']:.0f} bytes)\n")
    notes = [f"hyco: {res['hyco_tables']} tables (built once in "
             f"{ms(res['hyco_tables_build_s'])} ms, outside the timings)"]
    if "compressai_tables" in res:
        notes.append(f"CompressAI: {res['compressai_tables']} tables; rANS times exclude "
                     f"the tolist() of symbols+indexes "
                     f"({ms(res['compressai_list_conversion_s'])} ms)")
    return (title + "\n" + table(
        ["coder", "encode ms", "decode ms", "bytes", "vs ideal", "exact",
         "hyco/x enc", "hyco/x dec"], out) + "\n\n" + "; ".join(notes) + ".")


def report_models(hy_rows: list[dict[str, Any]], cai_rows: list[dict[str, Any]],
                  size: tuple[int, int]) -> str:
    cai_by_name = {r["hyco"]: r for r in cai_rows}
    out = []
    for r in hy_rows:
        out.append([r["codec"], r["quality"], f"{r['N']}/{r['M']}", ms(r["encode_s"]),
                    ms(r["decode_s"]), r["stream_bytes"], r["header_bytes"], "", ""])
        ref = cai_by_name.get(r["codec"].removeprefix("hyco "))
        if ref is not None and r["quality"] == ref["quality"]:
            out[-1][-2] = ratio(r["encode_s"], ref["encode_s"])
            out[-1][-1] = ratio(r["decode_s"], ref["decode_s"])
    for r in cai_rows:
        out.append([r["codec"], r["quality"], f"{r['N']}/{r['M']}", ms(r["encode_s"]),
                    ms(r["decode_s"]), r["stream_bytes"], "", "", ""])
    h, w = size
    title = f"### Codecs on a {w}x{h} image (random-init weights)\n"
    return title + "\n" + table(
        ["codec", "q", "N/M", "encode ms", "decode ms", "stream bytes", "header bytes",
         "hyco/CAI enc", "hyco/CAI dec"], out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--repeats", type=int, default=7,
                   help="entropy-coding timings: best of N after a warm-up (default 7)")
    p.add_argument("--model-repeats", type=int, default=3,
                   help="codec timings: best of N after a warm-up (default 3)")
    p.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="image for the codecs")
    p.add_argument("--no-compressai", action="store_true", help="skip CompressAI")
    p.add_argument("--skip-models", action="store_true", help="only the entropy coding")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    cai, cai_note = load_compressai(not args.no_compressai)
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "hyco": getattr(hyco, "__version__", "?"), "threads": torch.get_num_threads(),
           "cpu": cpu_model(), "compressai": cai_note}
    print("## hyco foundation benchmark\n")
    for k, v in env.items():
        print(f"- {k}: {v}")
    print(flush=True)

    results: dict[str, Any] = {"env": env}
    t0 = time.perf_counter()
    results["entropy"] = bench_entropy(cai, args.repeats)
    print(report_entropy(results["entropy"]) + "\n", flush=True)

    if not args.skip_models:
        x = load_image(args.image)
        size = (int(x.shape[-2]), int(x.shape[-1]))
        results["image"] = {"path": str(args.image), "height": size[0], "width": size[1]}
        results["hyco_models"] = bench_hyco_models(x, args.model_repeats)
        results["compressai_models"] = (
            bench_compressai_models(x, args.model_repeats) if cai is not None else [])
        print(report_models(results["hyco_models"], results["compressai_models"], size) + "\n")
    results["total_s"] = time.perf_counter() - t0
    print(f"(total {results['total_s']:.0f} s; times are best-of-N wall clock)")

    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
