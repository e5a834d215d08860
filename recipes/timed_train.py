"""Train for a wall-clock budget instead of a step count: what a lent accelerator's minutes allow.

A lease of a GPU is counted in minutes, and how many steps fit in them is known only once the
steps run. So this builds the run exactly as `hyco train` would (the same options, after
``--``), trains ``--probe`` steps, measures the throughput on the second half of them (the
first half holds the corpus decode and cuDNN's autotuning), then gives the run the total that
the time left allows, with its multistep milestones at the given fractions of that total,
trains on, saves the checkpoint and exports the weights. The run folder is a normal one:
`hyco train --resume` continues it, `hyco export` exports it again.

    python recipes/timed_train.py SECONDS [--probe 200] [--milestones 0.8] \\
        [--export FILE [--half] [--base FILE]] -- HYCO_TRAIN_ARGS...

recipes/gpu-round.sh runs a whole round of the shipped image models this way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

import torch

from hyco.cli import build_parser, config_from_args
from hyco.train.loop import export, trainer_class


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seconds", type=float, help="wall-clock budget, setup and export included")
    ap.add_argument("--probe", type=int, default=200, help="steps trained before measuring")
    ap.add_argument("--milestones", type=float, nargs="*", default=[0.8],
                    help="multistep milestones as fractions of the total steps")
    ap.add_argument("--reserve", type=float, default=15.0,
                    help="seconds kept back for the last checkpoint and the export")
    ap.add_argument("--export", help="write the final weights here (safetensors)")
    ap.add_argument("--half", action="store_true", help="export in float16")
    ap.add_argument("--base", help="export only what the model adds to this base weights file")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)  # after it: `hyco train` options
    a = ap.parse_args(argv[:cut])
    start = time.perf_counter()
    targs = build_parser().parse_args(["train", *argv[cut + 1:]])
    if targs.threads:
        torch.set_num_threads(targs.threads)
    cfg = config_from_args(targs)
    cfg.steps = a.probe
    trainer = trainer_class(cfg)(cfg)
    # the steps' shapes are fixed (crops), so cuDNN may time its convolutions once and keep the
    # fastest; set after construction, where a prior's latent cache sees every image's own size
    torch.backends.cudnn.benchmark = True
    trainer.rundir.mkdir(parents=True, exist_ok=True)
    config = trainer.rundir / "config.json"  # now, so a run stopped in its probe can resume
    config.write_text(json.dumps(asdict(cfg), indent=2))
    desc = f"{cfg.model} q{cfg.quality}"
    trainer.loop(a.probe // 2, desc, final=False)
    t1 = time.perf_counter()
    trainer.loop(a.probe, desc, final=False)
    t2 = time.perf_counter()
    rate = (a.probe - a.probe // 2) / (t2 - t1)
    total = a.probe + max(0, int(rate * (a.seconds - (t2 - start) - a.reserve)))
    cfg.steps = trainer.total_steps = total
    cfg.milestones = [int(total * f) for f in a.milestones]
    trainer.schedule.milestones = list(cfg.milestones)
    config.write_text(json.dumps(asdict(cfg), indent=2))
    print(f"{rate:.2f} steps/s after {t2 - start:.0f} s: {total} steps in all, "
          f"milestones {cfg.milestones}", flush=True)
    trainer.loop(total, desc)
    trainer.log.close()
    if a.export:
        path = export(trainer.rundir, a.export, model=trainer.model, half=a.half, base=a.base)
        print(f"exported {path} after {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
