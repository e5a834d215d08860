"""Variable-rate space-channel context: checkerboard passes over channel slices.

Why. The checkerboard prior (:mod:`hyco.image.checkerboard_vr`) predicts the non-anchor half
of the latent from the anchors at every channel, but codes the anchors, half the bits, from the
hyperprior alone, and sees nothing of the other channels' non-anchors. He et al. (2022, ELIC)
code the latent in channel slices, each in two checkerboard passes, every pass seeing all
that was decoded before it. Here the order is: the anchors of slice 0, 1, ... S-1, then the
non-anchors of slice 0, 1, ... S-1. So the anchors of a later slice see the co-located anchors
of the earlier ones, and the first slice's non-anchors already see every anchor, which is all
the checkerboard prior sees: the context is a superset of it at every pass.

As checkerboard-vr, the prior learns *on top of a trained* :class:`VariableRateMeanScale`, whose
transforms stay frozen, from the rate alone. Measured before building it (a float probe on the
round-11 transforms' cached corpus latents, batch 16 of 16 x 16 latents, Adam 1e-3, 4 slices,
width 128): after 350 steps the prior saved 7.9 % of the latent's bits against the hyperprior on
the training crops, where the shipped checkerboard prior, after its 3,000 steps, saved 6.5 %.

The slices need not be equal nor in the channels' own order (``SliceContextPrior(sizes=,
order=)``): on a trained latent a few channels carry most of the bits, and ELIC codes the busiest
first, in small slices, so that each later slice sees them (``benchmarks/prior_layout.py``
compares layouts on the shipped transforms).

Each pass is one stream (``2 S`` in all, the container's length fields cost 4 bytes each) and
one :class:`~hyco.nn.refiner.ScaleNormalisedRefiner` evaluation over the whole latent, in the
integer arithmetic of :mod:`hyco.nn.exact_layers`, so encoder and decoder select the same
tables on any machine and thread count.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hyco.entropy.gaussian import SCALE_MIN, code_gaussian
from hyco.image.checkerboard_vr import VariableRateCheckerboard, anchor_mask
from hyco.nn.exact_layers import ONE, clamp, div_round, mul_fixed
from hyco.nn.refiner import CLIP, ScaleNormalisedRefiner

SLICES = 4
WIDTH = 128


class SliceContextPrior(nn.Module):
    """(scales, means) of one pass's elements from the hyperprior's and all decoded so far.

    Pass ``p`` codes slice ``p % S`` at the anchors (``p < S``) or the non-anchors. Its
    refiner sees, normalised by the hyperprior's scale ``s'`` (as the checkerboard's)::

        u = s' / (s' + 1),  v = mu / s'    (the pass's slice)
        t = (y_hat - mu) / s'              (every channel, where decoded; 0 elsewhere)

    and outputs ``scales = s' (1 + a)``, ``means = mu + c s'`` for the slice. Pass 0 (the first
    slice's anchors) has no context: the hyperprior alone. The refiners' end layers start at
    zero, so the untrained prior is the base model.
    """

    def __init__(self, m: int = 192, slices: int = SLICES, width: int = WIDTH,
                 sizes: Sequence[int] | None = None, order: Sequence[int] | None = None):
        super().__init__()
        if sizes is None:
            if m % slices:
                raise ValueError(f"{m} latent channels do not split into {slices} slices")
            sizes = [m // slices] * slices
        sizes = [int(c) for c in sizes]
        if sum(sizes) != m or min(sizes) < 1:
            raise ValueError(f"slice sizes {sizes} do not split {m} latent channels")
        self.slices = len(sizes)
        self.bounds = [0, *itertools.accumulate(sizes)]
        self.passes = nn.ModuleList(
            ScaleNormalisedRefiner(2 * sizes[p % self.slices] + m, 2 * sizes[p % self.slices],
                                   width) for p in range(1, 2 * self.slices))
        # the coding order of the channels (uneven slices pay when the busiest channels come
        # first, each slice then seeing the ones before it); None: their own order
        if order is None:
            self.order: Tensor | None = None
        else:
            perm = torch.as_tensor(list(order), dtype=torch.long)
            if not torch.equal(perm.sort().values, torch.arange(m)):
                raise ValueError(f"the channel order is not a permutation of {m} channels")
            self.register_buffer("order", perm)

    def n_passes(self) -> int:
        return 2 * self.slices

    def channels(self, p: int) -> slice:
        """Pass ``p``'s slice of the latent's channels (in coding order)."""
        i = p % self.slices
        return slice(self.bounds[i], self.bounds[i + 1])

    def to_coding_order(self, t: Tensor) -> Tensor:
        """``t``'s channels (dim 1) in the order the passes code them."""
        return t if self.order is None else t[:, self.order.to(t.device)]

    def from_coding_order(self, t: Tensor) -> Tensor:
        """The inverse of :meth:`to_coding_order`."""
        return t if self.order is None else t[:, torch.argsort(self.order).to(t.device)]

    def positions(self, p: int, anchors: Tensor) -> Tensor:
        """Pass ``p``'s positions, from the (1, 1, H, W) anchor mask."""
        return anchors if p < self.slices else ~anchors

    def forward(self, p: int, scales: Tensor, means: Tensor, known: Tensor
                ) -> tuple[Tensor, Tensor]:
        """Float (training): pass ``p`` >= 1's slice parameters; ``known`` is ``y_hat - mu``
        where decoded, 0 elsewhere."""
        ch = self.channels(p)
        s, inp = ScaleNormalisedRefiner.features(scales[:, ch], means[:, ch].float())
        t = (known / scales.float().clamp_min(SCALE_MIN)).clamp(-CLIP, CLIP)
        a, c = self.passes[p - 1].head(torch.cat([inp, t], 1)).chunk(2, 1)
        return s * (1 + a), means[:, ch].float() + c * s

    def exact(self, p: int, scales_f: Tensor, means_f: Tensor, known_f: Tensor
              ) -> tuple[Tensor, Tensor]:
        """:meth:`forward`'s integer twin (fixed point in and out)."""
        ch = self.channels(p)
        s, inp = ScaleNormalisedRefiner.features_exact(scales_f[:, ch], means_f[:, ch])
        lim = CLIP * ONE
        t = div_round(known_f * ONE, scales_f.clamp_min(round(SCALE_MIN * ONE))).clamp(-lim, lim)
        a, c = self.passes[p - 1].head_exact(torch.cat([inp, t], 1)).chunk(2, 1)
        return clamp(mul_fixed(s, ONE + a)), clamp(means_f[:, ch] + mul_fixed(c, s))


class VariableRateChannelCheckerboard(VariableRateCheckerboard):
    """:class:`VariableRateMeanScale` (frozen) + :class:`SliceContextPrior`.

    Streams: the hyper-latent, then one per pass (anchors of each slice, then the rest).
    Trained as checkerboard-vr: ``--init`` a mean-scale-vr weights file, rate only.
    """

    name = "channel-checkerboard-vr"
    prior_cls = SliceContextPrior

    @property
    def n_streams(self) -> int:
        """The hyper-latent's, then one per pass (of the prior as built, any slice count)."""
        return 1 + self.spatial.n_passes()

    def _refined(self, y: Tensor, z_hat: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The hyperprior's float (scales, means) and every element's as coding uses them,
        pass by pass, each pass's context rounded as coding rounds it."""
        s1_o, m1_o = self._float_hyper(z_hat)
        sp = self.spatial
        y, s1, m1 = (sp.to_coding_order(t) for t in (y, s1_o, m1_o))
        anchors = anchor_mask(*y.shape[-2:]).to(y.device)
        scales, means, known = s1, m1, torch.zeros_like(y)
        for p in range(sp.n_passes()):
            ch, pos = sp.channels(p), sp.positions(p, anchors)
            if p:
                s2, m2 = sp(p, s1, m1, known)
                scales = _put(scales, ch, torch.where(pos, s2, scales[:, ch]))
                means = _put(means, ch, torch.where(pos, m2, means[:, ch]))
            y_hat = (torch.round(y[:, ch] - means[:, ch]) + means[:, ch]).detach()
            known = _put(known, ch, torch.where(pos, y_hat - m1[:, ch].detach(), known[:, ch]))
        return s1_o, m1_o, sp.from_coding_order(scales), sp.from_coding_order(means)

    def _counted(self, y: Tensor) -> Tensor:
        """Every element: the context reaches the anchors too."""
        return torch.ones(1, dtype=torch.bool, device=y.device)

    def _code(self, y: Tensor | None, streams: tuple[bytes, ...] | None, z_hat: Tensor
              ) -> tuple[list[bytes], Tensor, Tensor, Tensor]:
        """Pass by pass; encodes ``y`` or decodes ``streams`` (one per pass). Returns the
        streams, the decoded latent (fixed point) and its fixed-point scales and means."""
        sp = self.spatial
        s_f, mu_f = (sp.to_coding_order(t) for t in self.hyper_layers_fixed(z_hat).chunk(2, 1))
        anchors = anchor_mask(*s_f.shape[-2:])
        enc = y is not None
        y_d = sp.to_coding_order(y.double().cpu()) if enc else None
        y_f, known = torch.zeros_like(s_f), torch.zeros_like(s_f)
        scales, means = s_f.clone(), mu_f.clone()
        out = []
        for p in range(self.spatial.n_passes()):
            ch, pos = self.spatial.channels(p), self.spatial.positions(p, anchors)
            if p:
                s2, m2 = self.spatial.exact(p, s_f, mu_f, known)
            else:
                s2, m2 = s_f[:, ch], mu_f[:, ch]
            pos = pos.expand_as(s2)
            data, values = code_gaussian(y_d[:, ch][pos] if enc else None,
                                         None if enc else streams[p], m2[pos], s2[pos])
            out.append(data)
            y_f[:, ch][pos] = values
            scales[:, ch] = torch.where(pos, s2, scales[:, ch])
            means[:, ch] = torch.where(pos, m2, means[:, ch])
            known[:, ch] = torch.where(pos, y_f[:, ch] - mu_f[:, ch], known[:, ch])
        return out, *(sp.from_coding_order(t) for t in (y_f, scales, means))


def _put(t: Tensor, ch: slice, value: Tensor) -> Tensor:
    """``t`` with channels ``ch`` replaced, out of place (autograd keeps every pass)."""
    return torch.cat([t[:, :ch.start], value.to(t.dtype), t[:, ch.stop:]], 1)

