"""HyCoVC weights: safetensors files with their variant, size and digest; the shipped ones.

Shipped weights live beside the image codecs' (``hyco/weights/hycovc-<variant>.safetensors``);
a variant without shipped weights is built from a fixed seed, so its files still decode
anywhere (and the video header's digest still guards against mismatched weights).
"""

from __future__ import annotations

import functools
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save

from hyco.errors import HycoError, ModelMismatch
from hyco.files import write_atomic
from hyco.video.hycovc import HyCoVC
from hyco.zoo import WEIGHTS_DIR, weights_metadata

__all__ = ["load", "load_weights", "save_weights", "shipped", "weights_metadata"]


def shipped(variant: str) -> Path | None:
    path = WEIGHTS_DIR / f"hycovc-{variant}.safetensors"
    return path if path.is_file() else None


def load_weights(model: HyCoVC, path: str | Path) -> None:
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise HycoError(f"{path}: not a readable safetensors weights file ({exc})") from None
    own = model.state_dict()
    if set(state) != set(own) or any(state[k].shape != own[k].shape for k in state):
        raise ModelMismatch(f"{path}: weights do not fit hycovc {model.variant}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def save_weights(model: HyCoVC, path: str | Path, extra: dict[str, str] | None = None,
                 half: bool = False) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    meta = {"model": "hycovc", "variant": model.variant, **(extra or {})}
    if hasattr(model, "m"):  # the latent prior's size: its I-frame model's latent channels
        meta["m"] = str(model.m)
    write_atomic(path, save(state, metadata=meta), force=True)


@functools.lru_cache(maxsize=4)
def _load(variant: str, weights: str | None, _stamp: tuple) -> HyCoVC:
    from hyco.train.video import build

    path = weights or shipped(variant)
    meta = weights_metadata(path) if path is not None else {}
    model = build(variant, meta.get("size", "small"), int(meta["m"]) if "m" in meta else None)
    if path is not None:
        load_weights(model, path)
    return model.eval()


def load(variant: str, weights: str | Path | None = None) -> HyCoVC:
    """A ready (eval-mode) HyCoVC model; cached per process, treat as read-only."""
    if weights is None:
        return _load(variant, None, ())
    p = Path(weights).resolve()
    if not p.is_file():
        raise HycoError(f"{weights}: no such weights file")
    st = p.stat()
    return _load(variant, str(p), (st.st_mtime_ns, st.st_size))
