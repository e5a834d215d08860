"""Training: losses now; data, loops and checkpoints as the workbench grows."""

from hyco.train.losses import bits_per_pixel, rd_loss

__all__ = ["bits_per_pixel", "rd_loss"]
