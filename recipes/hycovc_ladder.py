"""Put the per-level gains of HyCoVC weights trained before the rate ladder onto it.

Until session 9 HyCoVC's gains started at one for every level, and after 2,500 steps the
levels still coded at one rate; new models start on ``gain_ladder``. This carries old weights
over: gains multiplied by the ladder, inverse gains divided (each level's reconstruction
scale is kept), every other tensor and the metadata unchanged.

    python recipes/hycovc_ladder.py OLD.safetensors NEW.safetensors
"""

from __future__ import annotations

import sys

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from hyco.image.variable_rate import gain_ladder


def main(src: str, dst: str) -> None:
    with safe_open(src, "pt") as f:
        meta = f.metadata()
    state = load_file(src)
    ladder = gain_ladder(*state["gain"].shape)
    gain, inv = state["gain"], state["inv_gain"]
    state["gain"] = (gain.float() * ladder).to(gain.dtype)
    state["inv_gain"] = (inv.float() / ladder).to(inv.dtype)
    save_file(state, dst, metadata=meta)


if __name__ == "__main__":
    main(*sys.argv[1:3])
