"""Growing a trained variable-rate model's latent without changing what it reconstructs.

Why. The default model's top qualities flatten at about 35 dB on Kodak, and its transforms'
own limit (the latent passed to the synthesis unrounded) sits there too, whatever the rate.
The latent has M = 192 channels per 16 x 16 x 3 = 768 pixel values. A linear transform of the
same shape (PCA of 16 x 16 blocks of the training corpus, measured on the three validation
photos) keeps 34.1-37.1 dB with 192 components and 40.6-46.6 dB with 320: at M = 192 the
dimension itself may cap the high rates (CompressAI's top qualities use M = 320).
Training a wider model from scratch would throw away every CPU round behind the shipped one,
so the shipped model is grown instead, Net2Net-style (Chen et al. 2016):

- the analysis gets new output filters (small random), the synthesis zero weights from the
  new channels: the reconstruction is exactly the narrow model's, and the synthesis' first
  gradient on a new channel is its correlation with the remaining error;
- the hyper-analysis gets zero weights from them (the hyper-latent is unchanged), and the
  hyper-synthesis (whose hidden widths stay, ``variable_rate.HYPER_HIDDEN``), for each new
  channel, a scale output of weights and bias 0 (the coder's minimum scale) and a mean of 0:
  the new channels, near zero, cost almost no bits until training gives them something to
  carry;
- the gains of the new channels start on the ladder, as a fresh model's do.

The grown model then trains as any other (``hyco train --init``); its weights file records
its size (``zoo.weights_size``), so the same model name builds at either size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hyco.image.variable_rate import VariableRateMeanScale, gain_ladder

NEW_FILTER_STD = 0.02  # of the analysis' new output filters (5x5xN taps each)
NEW_LATENT_STD = 0.05  # of the new latents at gain 1, where a sample calibrates the filters:
# at the top level's gain (about 3.2) a sixth of a quantisation step: nearly all zero, nearly free


def widen_latent(model: VariableRateMeanScale, m: int, seed: int = 0,
                 sample: Tensor | None = None) -> VariableRateMeanScale:
    """A copy of ``model`` with ``m`` latent channels (more than it has), reconstructing as
    ``model`` does (up to float summation order; the hyperprior's integer program, and so
    every old channel's table, is unchanged); new channels come after the old ones.

    ``sample`` (pictures, (B, 3, H, W) in [0, 1]) calibrates the new analysis filters so the
    new latents have :data:`NEW_LATENT_STD` on it at gain 1 (without: filters of
    :data:`NEW_FILTER_STD`, whose outputs depend on the model's activations)."""
    old = model.m
    if m <= old:
        raise ValueError(f"widen_latent grows the latent: {m} is not more than {old}")
    if type(model) is not VariableRateMeanScale:
        raise TypeError(f"widen the base model (mean-scale-vr), not {model.name}: its priors "
                        "are retrained on the grown transforms")
    wide = VariableRateMeanScale(model.n, m, model.levels)
    gen = torch.Generator().manual_seed(seed)
    src, out = model.state_dict(), {}
    transposed = {f"{name}.weight" for name, mod in wide.named_modules()
                  if isinstance(mod, nn.ConvTranspose2d)}
    for key, value in wide.state_dict().items():
        have = src[key]
        if have.shape == value.shape:
            out[key] = have.clone()
        elif key in ("gain", "inv_gain"):  # (levels, M): the new channels on the ladder
            ladder = gain_ladder(model.levels, m - old)
            out[key] = torch.cat([have, ladder if key == "gain" else 1.0 / ladder], 1)
        elif key.startswith("h_s.4."):  # the hyper-synthesis output: [scales M | means M]
            out[key] = _hyper_out(have, value.shape, old, m)
        else:
            out[key] = _grown(key, have, value.shape, key in transposed, gen)
    if sample is not None:
        with torch.no_grad():
            feats = model.g_a[:-1](model.pad(sample.float()))
            w = out["g_a.6.weight"][old:]
            spread = float(torch.nn.functional.conv2d(feats, w, stride=2, padding=2).std())
        out["g_a.6.weight"][old:] *= NEW_LATENT_STD / max(spread, 1e-12)
    wide.load_state_dict(out)
    wide.quality = model.quality
    return wide


def _grown(key: str, have: Tensor, shape: torch.Size, transposed: bool,
           gen: torch.Generator) -> Tensor:
    """A narrow layer's tensor at the wide shape: the old block copied, new *inputs* zero
    (so the old outputs are unchanged), new *outputs* random from the old inputs."""
    new = torch.zeros(shape, dtype=have.dtype)
    new[tuple(slice(0, n) for n in have.shape)] = have
    if have.dim() == 1:  # a bias: new outputs start at 0
        return new
    out_dim = 1 if transposed else 0  # ConvTranspose2d weights are (in, out, k, k)
    if shape[out_dim] > have.shape[out_dim]:
        index = [slice(None)] * new.dim()
        index[out_dim] = slice(have.shape[out_dim], None)
        index[1 - out_dim] = slice(0, have.shape[1 - out_dim])
        block = new[tuple(index)]
        # the analysis' new latents start small (near zero: nearly free); hidden channels of
        # the hyper-synthesis at their old neighbours' spread; both below the layer's largest
        # old weight, so the integer program keeps its scale (hyco.nn.exact)
        std = NEW_FILTER_STD if key.startswith("g_a.") else float(have.std())
        peak = 0.5 * float(have.abs().max())
        new[tuple(index)] = (torch.randn(block.shape, generator=gen) * std).clamp(-peak, peak)
    return new


def _old_output_rows(old: int, m: int) -> tuple[slice, slice]:
    """Where the old channels' scales and means sit in a grown hyper-synthesis output
    (scales of M, then means of M)."""
    return slice(0, old), slice(m, m + old)


def _hyper_out(have: Tensor, shape: torch.Size, old: int, m: int) -> Tensor:
    """The hyper-synthesis output: old rows to their new places, the new channels' rows
    zero (scale at the coder's minimum, mean 0)."""
    new = torch.zeros(shape, dtype=have.dtype)
    cols = (slice(0, have.shape[1]),) if have.dim() > 1 else ()
    scales, means = _old_output_rows(old, m)
    new[(scales, *cols)] = have[:old]
    new[(means, *cols)] = have[old:]
    return new


def grown_mask(wide: VariableRateMeanScale, old_m: int) -> dict[str, Tensor]:
    """Per parameter of a grown model, 1 where it belongs to the channels added beyond
    ``old_m`` (parameters without any: absent). What ``hyco train --grown-only`` trains.

    Why a stage of its own: trained all together at the shipped model's learning rate, the
    new channels were not taken up (their near-zero latents cost bits before the synthesis
    learns to use them, so the rate term shrinks them; BENCHMARKS.md), while the new channels
    alone at a higher rate, the rest frozen, lifted the top quality's ceiling within minutes.
    """
    narrow = VariableRateMeanScale(wide.n, old_m, wide.levels).state_dict()
    masks = {}
    for name, p in wide.named_parameters():
        old = narrow[name].shape
        if old == p.shape:
            continue
        mask = torch.ones_like(p, dtype=torch.float32)
        if name.startswith("h_s.4."):
            cols = (slice(0, old[1]),) if p.dim() > 1 else ()
            for rows in _old_output_rows(old_m, wide.m):
                mask[(rows, *cols)] = 0
        else:
            mask[tuple(slice(0, n) for n in old)] = 0
        masks[name] = mask
    return masks
