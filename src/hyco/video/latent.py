"""HyCoVC ``latent``: P-frames coded in the image codec's latent space, conditioned on the
previous frame's decoded latent (conditional entropy coding, as Liu et al., ECCV 2020).

Why. A P-frame codec with its own transforms must first learn to be as good an image
codec as the shipped one (26,000+ steps here) before conditioning can save anything: after
4,500 steps HyCoVC ``context`` still reconstructs 3.1-5.6 dB (Y-PSNR) below the I-frames of
the same quality on the Cisco clip.
This variant keeps the shipped image codec's analysis, hyperprior and synthesis (frozen),
so a P-frame reconstructs as well as an I-frame at the same quality from the first step,
and learns only what video adds: a *temporal prior*, a small network at latent resolution
that turns the hyperprior's (scales, means) and the previous frame's decoded latent into
sharper (scales, means). It starts from a fixed rule (:data:`START`), and what it saves
it saves at (nearly) equal quality: only the rounding offsets of the latent move.

No drift, by construction: the reference a P-frame is coded against is the previous
frame's *decoded latent*, integers (symbols plus fixed-point means) that encoder and decoder
hold identically; the temporal prior runs as an integer program
(:mod:`hyco.nn.exact_layers`), so the tables match on any machine and thread count, and the
pixels (the image codec's synthesis) never feed back.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from hyco.entropy.gaussian import code_gaussian, round_fixed
from hyco.entropy.mask import decode_mask, encode_mask
from hyco.errors import CorruptStream, HycoError
from hyco.files import tensor_to_array
from hyco.image.base import DECODE_THREADS, weights_digest
from hyco.image.variable_rate import VariableRateMeanScale
from hyco.nn.derived import Derived
from hyco.nn.exact_layers import (
    ONE,
    clamp,
    from_fixed,
    mul_fixed,
    to_fixed,
)
from hyco.nn.ops import pinned_threads
from hyco.nn.refiner import ScaleNormalisedRefiner
from hyco.payload import Payload
from hyco.video.hycovc import N_LEVELS
from hyco.zoo import lmbda_at, rd_cost

START = (-0.2, 0.5)  # the untrained prior's (a, b): scales x 0.8, means halfway to ref


class LatentPrior(ScaleNormalisedRefiner):
    """(scales, means) of a P-frame latent from the hyperprior's and the reference latent.

    Inputs, in quantisation-step units: the image codec's hyper-synthesis output (scales
    s, means mu: 2M channels) and the previous decoded latent ``ref`` (M), normalised by
    ``s' = max(s, 0.11)`` (:class:`hyco.nn.refiner.ScaleNormalisedRefiner`, as the
    checkerboard prior's; fed the raw values, one Adam step made the rate 2.5x the I-frame's)::

        u = s' / (s' + 1),   r = (ref - mu) / s',   v = mu / s'     (r, v clipped to +-16)

    and outputs per element a scale factor ``a``, a pull ``b`` towards the reference and a
    shift ``c``::

        scales = s' * (1 + a),    means = mu + b * (ref - mu) + c * s'

    "Static content: the reference's value, a smaller scale" is one linear map of these,
    learned through the 1x1 ``skip`` beside the deep path. Both end layers start at zero
    weights, with ``skip``'s bias at :data:`START`. (With a, b, c all zero the prior is the
    hyperprior alone: every P-frame coded as an I-frame.) ``forward`` trains in float;
    ``exact`` is its integer twin (integer products and divisions, rounded: exact).
    """

    variant = "latent"
    M, WIDTH = 192, 256  # the default image codec's latent channels; the hidden width

    def __init__(self, m: int = M, width: int = WIDTH, levels: int = N_LEVELS):
        super().__init__(3 * m, 3 * m, width)
        self.m, self.width, self.levels = m, width, levels
        # start from a fixed rule (a, b) = START, not from all-intra: Adam moves a bias about
        # lr per step, so from zero a pull of 0.5 would take a thousand steps to learn; on
        # training clips this rule alone saves about a tenth (measured; all-intra: zero)
        with torch.no_grad():
            self.skip.bias[: 2 * m] = torch.tensor(START).repeat_interleave(m)
        self.quality: float = 1.0  # set by the caller; the prior itself is rate-agnostic
        self._digest: Derived[str] = Derived(weights_digest)

    def digest(self) -> str:
        return self._digest.get(self)


    @torch.no_grad()
    def widened(self, m: int) -> LatentPrior:
        """This prior for an I-frame model whose latent grew to ``m`` channels
        (:func:`hyco.image.widen.widen_latent`): the old channels keep their (scales, means)
        exactly, each new channel starts at the mean of its block's learned end biases (the
        average channel's rule) and sees nothing yet. Why: a grown default model needs a
        video prior, and refitting this one takes a few hundred steps, where one from zero
        took 1,500 (recipes/hycovc-latent.sh)."""
        if m < self.m:
            raise HycoError(f"cannot widen a {self.m}-channel prior to {m} channels")
        wide = LatentPrior(m, self.width, self.levels)
        old = torch.cat([k * m + torch.arange(self.m) for k in range(3)])  # [u|r|v], [a|b|c]
        wide.net[2].load_state_dict(self.net[2].state_dict())  # the hidden layer: as it was
        wide.net[0].weight.zero_()
        wide.net[0].weight[:, old] = self.net[0].weight
        wide.net[0].bias.copy_(self.net[0].bias)
        for layer, new in ((self.net[-1], wide.net[-1]), (self.skip, wide.skip)):
            new.weight.zero_()
            new.bias.copy_(layer.bias.view(3, self.m).mean(1).repeat_interleave(m))
            new.bias[old] = layer.bias
        wide.net[-1].weight[old] = self.net[-1].weight
        wide.skip.weight[old.view(-1, 1), old] = self.skip.weight
        return wide

    def forward(self, hyper: Tensor, ref: Tensor) -> tuple[Tensor, Tensor]:
        s, mu = hyper.float().chunk(2, 1)
        d = ref - mu
        s, inp = self.features(s, d, mu)
        a, b, c = self.head(inp).chunk(3, 1)
        return s * (1 + a), mu + b * d + c * s

    def exact(self, hyper_f: Tensor, ref_f: Tensor) -> tuple[Tensor, Tensor]:
        s, mu = hyper_f.chunk(2, 1)
        d = clamp(ref_f - mu)
        s, inp = self.features_exact(s, d, mu)
        a, b, c = self.head_exact(inp).chunk(3, 1)
        scales = clamp(mul_fixed(s, ONE + a))
        means = clamp(mu + mul_fixed(b, d) + mul_fixed(c, s))
        return scales, means


def intra_codec(intra: object) -> VariableRateMeanScale:
    if not isinstance(intra, VariableRateMeanScale):
        raise HycoError(f"the latent variant codes in the latent of mean-scale-vr I-frames, "
                        f"not {getattr(intra, 'name', type(intra).__name__)}")
    return intra


class LatentRef(NamedTuple):
    """What a P-frame is coded against: the previous frame's decoded latent (fixed point,
    int64, padded) and the hyper-latent its tables came from (a P-frame may reuse it)."""

    y_f: Tensor
    z_hat: Tensor


def block_sse(a: Tensor, b: Tensor, block: int, grid: tuple[int, int]) -> Tensor:
    """``grid`` (H, W): the squared error between two (1, 3, h, w) pictures summed over
    each latent element's footprint, a ``block`` x ``block`` tile of the padded picture
    (channels included; the padding adds nothing)."""
    e = ((a - b) ** 2).sum((0, 1))
    (h, w), (gh, gw) = e.shape, grid
    e = F.pad(e, (0, gw * block - w, 0, gh * block - h))
    return e.view(gh, block, gw, block).sum((1, 3))


class LatentInter:
    """The ``latent`` variant as an inter codec (:class:`hyco.video.coding.InterCodec`).

    Its reference (:class:`LatentRef`) is the previous frame's decoded latent in fixed point
    and the hyper-latent that coded it.

    A P-frame has three streams: the hyper-latent (empty: the reference's is reused), a
    *skip map* and the latent. The skip
    map (:mod:`hyco.entropy.mask`) flags the latent positions (a 16 x 16 pixel block each,
    every channel) that are not coded but copied from the reference: conditional
    replenishment. Why: on a still background a camera's noise moves every latent element
    a little, so even the temporal prior pays for noise there (on Cisco a P-frame cost 82 %
    of an I-frame), while copying costs a fraction of a bit and keeps the picture the
    previous frame showed. The encoder decides per block by the image codec's own
    rate-distortion trade-off: copy where the bits the block would cost exceed
    ``lambda * 255^2 * (SSE_copy - SSE_coded) / 3``, the rise in squared error being
    measured on the two candidate pictures. The decision is the encoder's alone, so
    decoding stays exact: the decoder reads the map, not the rule.

    The hyper-latent is chosen the same way, per frame: the frame's own, or the reference's
    again (no bytes), whichever file has the lower measured ``bits + lambda 255^2 MSE``
    (:func:`hyco.zoo.rd_cost`). On a still scene the old one serves (on Cisco it was chosen
    for 75-100 % of the P-frames: 1.5-5.9 % fewer bits at equal PSNR), and a scene change
    gets a new one.
    """

    def __init__(self, prior: LatentPrior, intra: object, quality: str, skip: bool = True):
        self.prior, self.intra, self.quality = prior, intra_codec(intra), float(quality)
        if prior.m != self.intra.m:  # a prior of another latent size (a grown default)
            raise HycoError(f"the latent video prior codes {prior.m}-channel latents, but the "
                            f"I-frame model has {self.intra.m} (retrain it on that model)")
        if not 1 <= self.quality <= self.intra.levels:
            raise HycoError(f"hycovc quality must be 1..{self.intra.levels}, not {quality}")
        # False: code every block with the frame's own hyper-latent, as before the skip map
        # and the reuse (the encoder's choice; files decode alike)
        self.skip = skip

    def digest(self) -> str:
        return self.prior.digest()

    @torch.no_grad()
    def decode_intra(self, payload: Payload) -> tuple[np.ndarray, LatentRef]:
        """The I-frame's picture (as the image codec decodes it) and its latents."""
        intra = self.intra
        intra.quality = self.quality
        with pinned_threads(DECODE_THREADS):
            y_f = to_fixed(intra.decode_latent(payload))
            z_hat = intra.density.decompress(payload.streams[0],
                                             intra.latent_shape(payload.size, intra.n, 64))
            return self._picture(y_f, payload.size), LatentRef(y_f, z_hat)

    def _synthesis(self, y_f: Tensor, size: tuple[int, int]) -> Tensor:
        h, w = size
        return self.intra.synthesis(from_fixed(y_f, torch.float64).float())[..., :h, :w]

    def _picture(self, y_f: Tensor, size: tuple[int, int]) -> np.ndarray:
        return tensor_to_array(self._synthesis(y_f, size))

    def _block(self, size: tuple[int, int], grid: tuple[int, int]) -> int:
        """A latent element's footprint in pixels: the padded picture over the latent."""
        stride = self.intra.stride
        return -(-size[0] // stride) * stride // grid[0]

    def _copy_map(self, x: Tensor, y_f: Tensor, d_copy: Tensor, means_f: Tensor,
                  scales_f: Tensor) -> Tensor:
        """(H, W) bool: the latent positions cheaper to copy than to code (see the class);
        ``d_copy``: the reference picture's :func:`block_sse` against the frame."""
        grid = tuple(y_f.shape[-2:])
        if not self.skip:
            return torch.zeros(grid, dtype=torch.bool)
        size = x.shape[-2:]
        bits = -torch.log2(self.intra.gaussian.likelihood(
            from_fixed(y_f, torch.float64), from_fixed(scales_f),
            from_fixed(means_f, torch.float64))).sum((0, 1))
        d_coded = block_sse(self._synthesis(y_f, size).clamp(0, 1).cpu(), x.cpu(),
                            self._block(size, grid), grid)
        return bits >= lmbda_at(self.intra.name, self.quality) * 255.0**2 * (d_copy - d_coded) / 3

    def _code_given(self, x: Tensor, y: Tensor, z_hat: Tensor, ref: LatentRef,
                    d_copy: Tensor) -> tuple[list[bytes], Tensor]:
        """(skip map and latent streams, decoded latent) of ``y`` with the tables of
        ``z_hat``."""
        scales_f, means_f = self.prior.exact(self.intra.hyper_layers_fixed(z_hat), ref.y_f)
        copy = self._copy_map(x, round_fixed(y, means_f), d_copy, means_f, scales_f)
        keep = ~copy.expand_as(ref.y_f[0]).unsqueeze(0)
        y_data, coded = code_gaussian(y[keep], None, means_f[keep], scales_f[keep])
        y_f = ref.y_f.clone()
        y_f[keep] = coded
        return [encode_mask(copy.numpy()), y_data], y_f

    @torch.no_grad()
    def encode_inter(self, x: Tensor, ref: LatentRef
                     ) -> tuple[list[bytes], np.ndarray, LatentRef]:
        intra = self.intra
        intra.quality = self.quality
        h, w = x.shape[-2:]
        source = x.cpu().mul(255).round()  # the 8-bit frame the tensor was made from
        lmbda = lmbda_at(intra.name, self.quality)
        best = None
        with pinned_threads(DECODE_THREADS):
            y = intra.analysis(intra.pad(x.to(intra.device))).cpu()
            z_data, z_hat = intra.encode_hyper(y.to(intra.device))
            grid = tuple(ref.y_f.shape[-2:])  # the copy candidate's error, for both choices
            d_copy = block_sse(self._synthesis(ref.y_f, (h, w)).clamp(0, 1).cpu(), x.cpu(),
                               self._block((h, w), grid), grid) if self.skip else None
            # the frame's own hyper-latent, or the reference's again (an empty stream)
            reuse = self.skip and bool(z_data)  # (an empty stream of its own would read
            for z_stream, z in ([z_data, z_hat], [b"", ref.z_hat])[: 1 + reuse]:  # as reuse)
                rest, y_f = self._code_given(x, y, z, ref, d_copy)
                picture = self._picture(y_f, (h, w))
                mse = float(((torch.from_numpy(picture).permute(2, 0, 1)[None].double()
                              - source) ** 2).mean()) / 255.0**2
                cost = rd_cost(len(z_stream) + sum(map(len, rest)), h * w, mse, lmbda)
                if best is None or cost < best[0]:
                    best = (cost, [z_stream, *rest], picture, LatentRef(y_f, z))
        return best[1], best[2], best[3]

    @torch.no_grad()
    def decode_inter(self, streams: tuple[bytes, ...], ref: LatentRef,
                     size: tuple[int, int]) -> tuple[np.ndarray, LatentRef]:
        if len(streams) != 3:
            raise CorruptStream(f"corrupt .hyco video packet: {len(streams)} streams, "
                                "latent needs 3")
        intra = self.intra
        intra.quality = self.quality
        with pinned_threads(DECODE_THREADS):
            z_hat = (intra.density.decompress(streams[0], intra.latent_shape(size, intra.n, 64))
                     if streams[0] else ref.z_hat)
            scales_f, means_f = self.prior.exact(intra.hyper_layers_fixed(z_hat), ref.y_f)
            copy = torch.from_numpy(decode_mask(streams[1], tuple(ref.y_f.shape[-2:])))
            keep = ~copy.expand_as(ref.y_f[0]).unsqueeze(0)
            _, coded = code_gaussian(None, streams[2], means_f[keep], scales_f[keep])
            y_f = ref.y_f.clone()
            y_f[keep] = coded
            return self._picture(y_f, size), LatentRef(y_f, z_hat)
