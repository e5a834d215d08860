"""Spatial context models on top of the mean-scale hyperprior.

:class:`ContextCodec` holds what the joint autoregressive model (Minnen 2018) and the
checkerboard model (He 2021) share: a masked context convolution, the entropy-parameter
network fed with [hyper features, context], and an exact engine that computes entropy
parameters only at the positions being coded, batched over channels, in the integer
arithmetic of :mod:`hyco.nn.exact` so encoder and decoder pick identical tables.

Coding order is a sequence of *steps*; each step is a set of positions whose contexts are
complete. The encoder and the eval forward quantise step by step exactly as the decoder
decodes, and each step is one chunk of the entropy coder.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from hyco.entropy.coder import Decoder, Encoder
from hyco.entropy.gaussian import gaussian_tables, scale_indices
from hyco.image.hyperprior import MeanScaleHyperprior
from hyco.nn.derived import Derived
from hyco.nn.exact import (
    exact_forward,
    exact_rows,
    from_fixed,
    quantize_conv,
    quantize_layers,
    rescale,
    to_fixed,
)
from hyco.nn.masked import MaskedConv2d
from hyco.payload import Payload

# (positions as flat indices into the H x W grid, fixed scales, means) -> y_hat rows
StepFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def _entropy_parameters(m: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(m * 4, m * 10 // 3, 1), nn.LeakyReLU(),
        nn.Conv2d(m * 10 // 3, m * 8 // 3, 1), nn.LeakyReLU(),
        nn.Conv2d(m * 8 // 3, m * 2, 1))


class _ContextProgram:
    """The masked convolution as one integer matrix over its gathered taps."""

    def __init__(self, conv: MaskedConv2d):
        self.taps = conv.taps()
        w, b, e = quantize_conv(conv.weight * conv.mask, conv.bias)
        ky = [dy + conv.kernel_size[0] // 2 for dy, _ in self.taps]
        kx = [dx + conv.kernel_size[1] // 2 for _, dx in self.taps]
        # (out, in, T) -> (out, T * in): row layout matches gathered (n, T, in) patches
        self.weight = w[:, :, ky, kx].permute(0, 2, 1).reshape(w.shape[0], -1)
        self.bias, self.e = b, e
        self.dy = torch.tensor([t[0] for t in self.taps])
        self.dx = torch.tensor([t[1] for t in self.taps])

    def __call__(self, y_pad: Tensor, hs: Tensor, ws: Tensor, pad: int) -> Tensor:
        """Context rows (n, out) at positions (hs, ws) of the padded (H, W, C) fixed map."""
        patches = y_pad[hs[:, None] + pad + self.dy, ws[:, None] + pad + self.dx]  # (n, T, C)
        acc = patches.reshape(hs.numel(), -1) @ self.weight.T
        return rescale(acc + self.bias if self.bias is not None else acc, self.e)


class ContextCodec(MeanScaleHyperprior):
    mask_kind = "causal"
    encoder_parts = ("g_a", "h_a", "density", "h_s", "context", "entropy_parameters")
    decoder_parts = ("density", "h_s", "context", "entropy_parameters", "g_s")

    def __init__(self, n: int = 192, m: int = 320):
        super().__init__(n, m)
        self.context = MaskedConv2d(m, 2 * m, 5, kind=self.mask_kind)
        self.entropy_parameters = _entropy_parameters(m)
        self._ctx_program: Derived[_ContextProgram] = Derived(_ContextProgram)
        self._ep_program: Derived[list] = Derived(lambda mod: quantize_layers(mod))

    # -- float path (training) -------------------------------------------------------------
    def _context_features(self, y_hat: Tensor) -> Tensor:
        return self.context(y_hat)

    def _forward(self, x: Tensor) -> dict:
        if not self.training:
            return self._forward_exact(x)
        y = self.g_a(x).float()
        z_hat = self.density.quantize(self.h_a(y).float(), noise=True)
        hyper = self.h_s(z_hat).float()
        y_hat = self.gaussian.quantize(y, None, noise=True)
        params = self.entropy_parameters(torch.cat([hyper, self._context_features(y_hat)], 1))
        scales, means = params.float().chunk(2, dim=1)
        return {"x_hat": self.g_s(y_hat),
                "likelihoods": {"y": self.gaussian.likelihood(y_hat, scales, means),
                                "z": self.density.likelihood(z_hat)}}

    # -- exact path (eval, encode, decode) -------------------------------------------------
    def steps(self, h: int, w: int) -> list[Tensor]:
        """Coding order: a list of position sets (flat indices into h x w)."""
        raise NotImplementedError

    def _run_exact(self, hyper_fixed: Tensor, step_fn: StepFn) -> tuple[Tensor, Tensor, Tensor]:
        """Walk the steps; returns y_hat (1, M, H, W) and fixed scales / means (H*W, M)."""
        m = self.m
        _, _, h, w = hyper_fixed.shape
        ctx_prog = self._ctx_program.get(self.context)
        ep_prog = self._ep_program.get(self.entropy_parameters)
        pad = self.context.kernel_size[0] // 2
        hyper_rows = hyper_fixed[0].permute(1, 2, 0).reshape(h * w, -1).double()
        y_pad = torch.zeros(h + 2 * pad, w + 2 * pad, m, dtype=torch.float64)
        y_rows = torch.zeros(h * w, m)
        scales = torch.zeros(h * w, m, dtype=torch.int64)
        means = torch.zeros(h * w, m)
        for pos in self.steps(h, w):
            hs, ws = pos // w, pos % w
            ctx = self._step_context(ctx_prog, y_pad, hs, ws, pad)
            params = exact_rows(ep_prog, torch.cat([hyper_rows[pos], ctx], dim=1))
            s_fixed = params[:, :m].to(torch.int64)
            mu = from_fixed(params[:, m:].to(torch.int64))
            rows = step_fn(pos, s_fixed, mu)
            y_rows[pos], scales[pos], means[pos] = rows, s_fixed, mu
            y_pad[hs + pad, ws + pad] = to_fixed(rows)
        y_hat = y_rows.T.reshape(1, m, h, w)
        return y_hat, scales, means

    def _step_context(self, prog: _ContextProgram, y_pad: Tensor, hs: Tensor, ws: Tensor,
                      pad: int) -> Tensor:
        return prog(y_pad, hs, ws, pad)

    def _hyper_fixed(self, z_hat: Tensor) -> Tensor:
        return exact_forward(self._program.get(self.h_s), z_hat)

    def _forward_exact(self, x: Tensor) -> dict:
        y = self.g_a(x).float()
        z_hat = self.density.quantize(self.h_a(y).float(), noise=False)
        y_flat = y[0].flatten(1).T.cpu()  # (H*W, M); the exact engine runs on the CPU

        def quantise(pos: Tensor, _s: Tensor, mu: Tensor) -> Tensor:
            return torch.round(y_flat[pos] - mu) + mu

        y_hat, scales, means = self._run_exact(self._hyper_fixed(z_hat), quantise)
        shape, dev = y_hat.shape, y.device
        y_hat = y_hat.to(dev)
        scales = from_fixed(scales).T.reshape(shape).to(dev)
        means = means.T.reshape(shape).to(dev)
        return {"x_hat": self.g_s(y_hat),
                "likelihoods": {"y": self.gaussian.likelihood(y_hat, scales, means),
                                "z": self.density.likelihood(z_hat)}}

    def _compress(self, x: Tensor) -> list[bytes]:
        y = self.g_a(x)
        z_data, z_hat = self.density.compress(self.h_a(y))
        y_flat = y[0].flatten(1).T.cpu()
        enc = Encoder(gaussian_tables())

        def quantise(pos: Tensor, s_fixed: Tensor, mu: Tensor) -> Tensor:
            q = torch.round(y_flat[pos] - mu)
            enc.add(q.to(torch.int64).numpy(), scale_indices(s_fixed).numpy())
            return q + mu

        self._run_exact(self._hyper_fixed(z_hat), quantise)
        return [z_data, enc.finish()]

    def _decompress(self, payload: Payload) -> Tensor:
        z_hat = self.density.decompress(payload.streams[0], self.latent_shape(payload.size,
                                                                              self.n, 64))
        dec = Decoder(payload.streams[1], gaussian_tables())

        def dequantise(_pos: Tensor, s_fixed: Tensor, mu: Tensor) -> Tensor:
            q = dec.read(scale_indices(s_fixed).numpy())
            return torch.from_numpy(q).to(mu.dtype) + mu

        y_hat, _, _ = self._run_exact(self._hyper_fixed(z_hat), dequantise)
        dec.finish()
        return self.g_s(y_hat.to(self.device))


class JointAutoregressive(ContextCodec):
    """Minnen et al. 2018: mean-scale hyperprior + 5x5 causal context, serial decoding.

    Steps are anti-diagonals ``w + 3h = t``: with a 5x5 causal mask every tap of a position
    lies on an earlier diagonal, so the positions of one diagonal decode together
    (W + 3(H - 1) steps instead of H * W).
    """

    name = "joint-ar"
    mask_kind = "causal"

    def steps(self, h: int, w: int) -> list[Tensor]:
        grid = torch.arange(h * w)
        t = (grid % w) + 3 * (grid // w)
        order = torch.argsort(t, stable=True)
        counts = torch.bincount(t)
        return [s for s in torch.split(order, counts.tolist()) if s.numel()]


class Checkerboard(ContextCodec):
    """He et al. 2021: anchors (h + w even) from the hyperprior alone, then the other half
    with a checkerboard context over the anchors: two parallel steps."""

    name = "checkerboard"
    mask_kind = "checkerboard"

    def _anchor_mask(self, y: Tensor) -> Tensor:
        h, w = y.shape[-2:]
        hh, ww = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        return ((hh + ww) % 2 == 0).to(y.dtype).view(1, 1, h, w)

    def _context_features(self, y_hat: Tensor) -> Tensor:
        anchors = self._anchor_mask(y_hat)
        return self.context(y_hat * anchors) * (1 - anchors)

    def steps(self, h: int, w: int) -> list[Tensor]:
        grid = torch.arange(h * w)
        anchor = ((grid // w) + (grid % w)) % 2 == 0
        return [s for s in (grid[anchor], grid[~anchor]) if s.numel()]

    def _step_context(self, prog: _ContextProgram, y_pad: Tensor, hs: Tensor, ws: Tensor,
                      pad: int) -> Tensor:
        if bool(((hs + ws) % 2 == 0).all()):  # anchors: no context (zeros, as in training)
            return torch.zeros(hs.numel(), prog.weight.shape[0], dtype=torch.float64)
        return prog(y_pad, hs, ws, pad)


