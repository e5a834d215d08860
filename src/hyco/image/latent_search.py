"""Encoder-side latent search: fewer bits at the same quality, with the decoder unchanged.

Why. A learned encoder predicts its latents in one pass (amortised inference); for any one
picture they are not the best the decoder could be given. Searching them by gradient descent
on the model's own rate-distortion loss, with the decoder and the entropy model fixed,
closes part of that amortisation gap (Campos et al. 2019; Yang et al. 2020). The gap is the
wider the less the encoder is trained, which on a CPU it always is. The files are ordinary
files of the same model: only the encoder's effort changes, so a decoder can't tell.

How. The search starts at the analysis's latents ``(y, z)`` and takes Adam steps on
``bits / pixels + lambda * 255^2 * MSE`` (the training loss, at the model's lambda for the
quality: :func:`hyco.zoo.lmbda_at`). The rate term uses uniform noise for the rounding and the
picture the values the coder will round to (the model's ``relaxed_rate``). That proxy and
the real file can part ways (measured: at a constant step size the real loss rose again
after 25-50 steps; hence the cosine decay), so every ``check_every`` steps the latents are
coded for real, and the file with the lowest *measured* loss is kept: never worse than
plain coding, which is the first candidate.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hyco import zoo
from hyco.errors import HycoError
from hyco.image.base import DECODE_THREADS, ImageCodec
from hyco.nn.ops import pinned_threads
from hyco.payload import Payload

LR = 1e-2  # Adam's step on the latents (quantisation-step units), cosine-decayed to zero
CHECK_EVERY = 10
HYPER_LR = 3e-2  # set on non-Kodak photos: 1e-2 saved half as much, 5e-2 and 0.1 hardly any


def check_refine(codec: ImageCodec | type, steps: int, hyper: bool = False) -> None:
    """A clear error unless ``codec`` (a model or its class) can search ``steps`` steps
    (``hyper``: of the hyper-latent alone, :func:`search_hyper`)."""
    needs = ("initial_latents", "compress_latents", "hyper_rate" if hyper else "relaxed_rate")
    flag = "--search-hyper" if hyper else "--refine"
    if not all(hasattr(codec, a) for a in needs):
        raise HycoError(f"{codec.name} has no {'hyper-' if hyper else ''}latent search ({flag} "
                        "is for mean-scale-vr and its context priors)")
    if steps < 0:
        raise HycoError(f"{flag} takes a number of steps >= 0, not {steps}")


def check_searches(codec: ImageCodec | type, refine: int = 0, search_hyper: int = 0) -> None:
    """:func:`check_refine` for whichever search is asked, and a clear error if both are
    (the full search moves the hyper-latent too)."""
    if refine and search_hyper:
        raise HycoError("give --refine or --search-hyper, not both (the full search moves "
                        "the hyper-latent too)")
    if refine or search_hyper:
        check_refine(codec, refine or search_hyper, hyper=bool(search_hyper))


def _measured_loss(codec: ImageCodec, streams: list[bytes], x: Tensor, lmbda: float) -> float:
    """The loss of a real file: its bytes and its decoded 8-bit picture."""
    h, w = x.shape[-2:]
    rec = codec.decompress(Payload(streams=tuple(streams), size=(h, w)))
    rec = rec.float().clamp(0, 1).mul(255).round().div(255).cpu()
    mse = float(((rec - x.float().cpu()) ** 2).mean())
    return zoo.rd_cost(sum(map(len, streams)), h * w, mse, lmbda)


def search_latents(codec: ImageCodec, x: Tensor, steps: int, lmbda: float | None = None,
                   check_every: int = CHECK_EVERY, seed: int = 0) -> Payload:
    """The payload of the best latents found in ``steps`` steps for picture ``x``
    ((1, 3, H, W) in [0, 1]) at ``lmbda`` (default: the model's at its quality);
    ``steps = 0`` is plain coding."""
    check_refine(codec, steps)
    return _search(codec, x, steps, False, LR, lmbda, check_every, seed)


def search_hyper(codec: ImageCodec, x: Tensor, steps: int, lmbda: float | None = None,
                 seed: int = 0, lr: float = HYPER_LR) -> Payload:
    """The payload of the best hyper-latent found in ``steps`` steps, the latent left as
    the analysis gave it; ``steps = 0`` is plain coding.

    Why. The hyper-analysis can miss badly on content unlike its training photos: on one
    Kodak picture (kodim19's fence, quality 1) the hyper-synthesis put the scales of a whole
    region on the floor under latents of 3-9, and the file was twice its quality-2 size
    (BENCHMARKS.md, "The hyper-latent search"). The rate there is flat, so neither training
    nor the full search (:func:`search_latents`) is pulled out quickly; this search moves
    only the hyper-latent, under :meth:`hyper_rate`'s log-domain rate, whose tail has a
    slope. A step needs no synthesis, only the hyper-synthesis at 1/256 of the pixels, so
    it is cheap. The proxy leaves out the context priors, and a longer search drifts from
    what they code best (measured, checking only at the end: 40 steps at this step size
    kept no candidate on 12 corpus files where 20 steps kept all 12), so as in
    :func:`search_latents` the latents are coded and decoded every :data:`CHECK_EVERY`
    steps and plain coding's file is kept unless a
    measured ``bits + lambda * 255^2 * MSE`` is lower (the means move with the
    hyper-latent, so the picture changes a little).
    """
    check_refine(codec, steps, hyper=True)
    return _search(codec, x, steps, True, lr, lmbda, CHECK_EVERY, seed)


def _search(codec: ImageCodec, x: Tensor, steps: int, hyper: bool, lr: float,
            lmbda: float | None, check_every: int, seed: int) -> Payload:
    """Adam on the latents (``hyper``: the hyper-latent alone) with a cosine-decayed step,
    coding for real every ``check_every`` steps and keeping the lowest measured loss."""
    if lmbda is None:
        lmbda = zoo.lmbda_at(codec.name, codec.quality)
    h, w = x.shape[-2:]
    x = x.to(codec.device)
    padded = codec.pad(x)
    with torch.no_grad(), pinned_threads(DECODE_THREADS):
        y0, z0 = codec.initial_latents(padded)
        best_streams = codec.compress_latents(y0, z0)
    if steps == 0:
        return Payload(streams=tuple(best_streams), size=(int(h), int(w)))
    best = _measured_loss(codec, best_streams, x, lmbda)
    z = z0.clone().requires_grad_(True)
    y = y0 if hyper else y0.clone().requires_grad_(True)
    variables = [z] if hyper else [y, z]
    opt = torch.optim.Adam(variables, lr=lr)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # the rate's noise: a given file for a given picture
    try:
        for i in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * i / steps))
            if hyper:
                loss = codec.hyper_rate(y, z) / (h * w)
            else:
                bits, picture = codec.relaxed_rate(y, z)
                mse = ((picture[..., :h, :w].float() - x) ** 2).mean()
                loss = bits / (h * w) + lmbda * 255.0**2 * mse
            grads = torch.autograd.grad(loss, variables)  # no parameter gradients
            for v, g in zip(variables, grads, strict=True):
                v.grad = g
            opt.step()
            if (i + 1) % check_every == 0 or i + 1 == steps:
                with torch.no_grad(), pinned_threads(DECODE_THREADS):
                    streams = codec.compress_latents(y.detach(), z.detach())
                    measured = _measured_loss(codec, streams, x, lmbda)
                if measured < best:
                    best, best_streams = measured, streams
    finally:
        torch.random.set_rng_state(gen_state)
    return Payload(streams=tuple(best_streams), size=(int(h), int(w)))
