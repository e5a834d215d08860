"""What every learned image codec shares: padding, digest, aux loss, the coding contract."""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyco.entropy.factorized import FactorizedDensity
from hyco.errors import CorruptStream
from hyco.nn.derived import Derived
from hyco.nn.ops import pinned_threads
from hyco.payload import Payload

# Float synthesis transforms run with this many threads when a reconstruction must be
# reproduced (decode, eval forward): the result then does not depend on the caller's setting.
DECODE_THREADS = 1


def weights_digest(module: nn.Module) -> str:
    """sha256 (first 16 hex digits) of the state dict: names, dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


class ImageCodec(nn.Module):
    """A learned image codec.

    ``forward(x)`` returns ``{"x_hat", "likelihoods"}``: noisy latents when training,
    rounded ones (exactly what ``compress`` codes) in eval mode. ``compress(x)`` takes one
    image (1, 3, H, W) in [0, 1] of any size and returns a :class:`Payload`;
    ``decompress(payload)`` returns the reconstruction, bit-identical to eval ``forward``.
    """

    name: str = ""
    stride: int = 64  # total downsampling: inputs are padded to a multiple of it
    n_streams: int = 1
    # sub-modules that run when encoding / decoding (for parameter and MAC counts)
    encoder_parts: tuple[str, ...] = ()
    decoder_parts: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self._digest: Derived[str] = Derived(weights_digest)

    # -- shared helpers --------------------------------------------------------------------
    def pad(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.stride, (-w) % self.stride
        if ph == 0 and pw == 0:
            return x
        return F.pad(x, (0, pw, 0, ph), mode="replicate")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def digest(self) -> str:
        return self._digest.get(self)

    def aux_loss(self) -> Tensor:
        """Quantile loss of every factorized density; the trainer adds it, users never do."""
        losses = [m.aux_loss() for m in self.modules() if isinstance(m, FactorizedDensity)]
        return torch.stack(losses).sum() if losses else torch.zeros(())

    def latent_shape(self, size: tuple[int, int], channels: int, factor: int) -> tuple:
        h, w = size
        hp, wp = -(-h // self.stride) * self.stride, -(-w // self.stride) * self.stride
        return (1, channels, hp // factor, wp // factor)

    def check_payload(self, payload: Payload) -> None:
        if len(payload.streams) != self.n_streams:
            raise CorruptStream(
                f"corrupt file: {len(payload.streams)} streams, {self.name} needs {self.n_streams}")

    # -- the contract ----------------------------------------------------------------------
    def forward(self, x: Tensor) -> dict:
        h, w = x.shape[-2:]
        if self.training:
            out = self._forward(self.pad(x))
        else:  # the decoder's numbers: same thread count as decompress (see pinned_threads)
            with pinned_threads(DECODE_THREADS):
                out = self._forward(self.pad(x))
        out["x_hat"] = out["x_hat"][..., :h, :w]
        return out

    def _forward(self, x: Tensor) -> dict:
        raise NotImplementedError

    @torch.no_grad()
    def compress(self, x: Tensor) -> Payload:
        if x.dim() != 4 or x.shape[0] != 1:
            raise ValueError("compress takes one image of shape (1, C, H, W)")
        h, w = x.shape[-2:]
        x = x.to(self.device)
        with pinned_threads(DECODE_THREADS):  # the latents eval forward predicts, exactly
            return Payload(streams=tuple(self._compress(self.pad(x))), size=(int(h), int(w)))

    @torch.no_grad()
    def decompress(self, payload: Payload) -> Tensor:
        self.check_payload(payload)
        h, w = payload.size
        with pinned_threads(DECODE_THREADS):
            return self._decompress(payload)[..., :h, :w]

    def _compress(self, x: Tensor) -> list[bytes]:
        raise NotImplementedError

    def _decompress(self, payload: Payload) -> Tensor:
        raise NotImplementedError
