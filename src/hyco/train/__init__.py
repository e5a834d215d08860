"""Training: data, losses, schedules, checkpoints, logs and the loop behind `hyco train`."""

from hyco.train.loop import TrainConfig, Trainer, export, train
from hyco.train.losses import bits_per_pixel, rd_loss

__all__ = ["TrainConfig", "Trainer", "bits_per_pixel", "export", "rd_loss", "train"]
