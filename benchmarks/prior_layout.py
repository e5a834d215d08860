"""Which channel-slice layout should the space-channel prior use on the shipped transforms?

Why. ``channel-checkerboard-vr`` codes the latent in 4 equal slices in the channels' own
order. On the 320-channel default most of the bits sit in a few channels, scattered over the
slices (``--energy`` prints how they spread), so the first slices' passes get little channel
context where it would pay most. ELIC (He et al. 2022) codes uneven slices, the busiest
channels first. This probe trains fresh priors of several layouts on the same cached latents,
the same crops, levels and steps, and measures each on the validation photos by real coding
(bytes on disk against the transforms' own hyperprior, ``mean-scale-vr``): a read before any
layout is built into training and export.

    python benchmarks/prior_layout.py --latents cache/runs/ccbvr-s27/latents.safetensors \
        --val cache/corpus_val --steps 600 --layouts 80,80,80,80 sorted:80,80,80,80 \
        sorted:16,16,32,64,192

A layout is slice sizes (summing to M), ``sorted:`` first to code the channels in the order
of their hyperprior rate on the training latents (busiest first).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from safetensors.torch import load_file

from hyco import zoo
from hyco.files import array_to_tensor, to_array
from hyco.image.channel_checkerboard_vr import SliceContextPrior
from hyco.train.data import list_images
from hyco.train.latent_prior import LATENT_CROP, latent_crops
from hyco.train.loop import draw_level


def latents(path: str, model) -> dict[str, torch.Tensor]:
    cached = load_file(path)
    digest = cached.pop("__digest__").numpy().tobytes().decode()
    if digest != model.analysis_digest():
        raise SystemExit(f"{path}: latents of other transforms than the shipped default's")
    return {k: v for k, v in cached.items() if min(v.shape[-2:]) >= LATENT_CROP}


def fresh():
    """The shipped default, a model of its own (the zoo's cached one is shared)."""
    path = zoo.shipped_weights("channel-checkerboard-vr", 3)
    model = zoo.build("channel-checkerboard-vr", 3, size=zoo.weights_size(path))
    zoo.load_weights(model, path)
    return model


@torch.no_grad()
def channel_bits(model, cache: dict[str, torch.Tensor], names: list[str]) -> torch.Tensor:
    """Each channel's hyperprior rate over ``names``' latents, summed over levels 1-8."""
    total = torch.zeros(model.m, dtype=torch.float64)
    for q in range(1, model.levels + 1):
        model.quality = q
        for name in names:
            y = cache[name][None].float() * model._gains(model.gain)
            z_hat = model.density.quantize(model.hyper_latent(y), noise=False)
            s, mu = model._float_hyper(z_hat)
            y_hat = model.gaussian.quantize(y, mu, noise=False)
            total += -torch.log2(model.gaussian.likelihood(y_hat, s, mu)).sum((0, 2, 3)).double()
    return total


def parse(layout: str, order: list[int]) -> tuple[list[int], list[int] | None]:
    sorted_, _, sizes = layout.rpartition(":")
    return [int(c) for c in sizes.split(",")], (order if sorted_ == "sorted" else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latents", required=True, help="a prior run's latents.safetensors")
    ap.add_argument("--val", required=True, help="validation photos")
    ap.add_argument("--layouts", nargs="+", default=["80,80,80,80", "sorted:16,16,32,64,192"])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--qualities", type=int, nargs="+", default=[1, 3, 5, 8])
    ap.add_argument("--energy", action="store_true", help="print how the bits spread")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    base = fresh()
    plain = zoo.load("mean-scale-vr", 3)
    cache = latents(args.latents, base)
    names = sorted(cache)
    bits = channel_bits(base, cache, names[::8])
    order = torch.argsort(bits, descending=True).tolist()
    if args.energy:
        share = torch.cumsum(bits[order], 0) / bits.sum()
        print("busiest channels' share of the bits:",
              {k: round(float(share[k - 1]), 3) for k in (8, 16, 32, 64, 128, 192)})
    photos = [array_to_tensor(to_array(f)[0]) for f in list_images(args.val)]
    ref = {}
    for q in args.qualities:
        plain.quality = q
        ref[q] = sum(sum(map(len, plain.compress(x).streams)) for x in photos)

    print(f"| layout | passes | {' | '.join(f'q{q} saving' for q in args.qualities)} "
          f"| training s/step |")
    print(f"|---|---|{'---|' * len(args.qualities)}---|")

    def savings(model) -> str:
        out = []
        for q in args.qualities:
            model.quality = q
            size = sum(sum(map(len, model.compress(x).streams)) for x in photos)
            out.append(f"{100 * (1 - size / ref[q]):.2f} %")
        return " | ".join(out)

    print(f"| shipped prior | {base.spatial.n_passes()} | {savings(base.eval())} | |")
    for layout in args.layouts:
        sizes, perm = parse(layout, order)
        model = fresh()
        torch.manual_seed(args.seed)
        model.spatial = SliceContextPrior(model.m, sizes=sizes, order=perm)
        opt = torch.optim.Adam(model.spatial.parameters(), lr=args.lr)
        model.train()
        t0 = time.perf_counter()
        for step in range(args.steps):
            lr = args.lr * (0.1 if step >= 0.8 * args.steps else 1.0)
            for g in opt.param_groups:
                g["lr"] = lr
            y = latent_crops(cache, names, args.seed, step, args.batch)
            torch.manual_seed(hash((args.seed, step)) & 0x7FFF_FFFF)
            model.quality = draw_level(np.random.default_rng([args.seed, step, 7]),
                                       model.levels, [])
            loss = model.prior_loss(y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.spatial.parameters(), 1.0)
            opt.step()
        per_step = (time.perf_counter() - t0) / max(args.steps, 1)
        print(f"| {layout} | {model.spatial.n_passes()} | {savings(model.eval())} "
              f"| {per_step:.2f} |", flush=True)


if __name__ == "__main__":
    main()
