"""Learning-rate schedules whose whole state is plain numbers (exact, safe checkpoints)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class LRSchedule:
    """``multistep``: lr x gamma at each milestone step; ``plateau``: lr x gamma after
    ``patience`` checks without a ``threshold`` relative improvement; ``constant``."""

    kind: str = "multistep"
    base_lr: float = 1e-4
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    patience: int = 5
    threshold: float = 1e-3
    min_lr: float = 1e-6
    # plateau state
    lr: float = 0.0
    best: float = float("inf")
    bad_checks: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("multistep", "plateau", "constant"):
            raise ValueError(f"unknown schedule {self.kind!r}")
        if self.lr == 0.0:
            self.lr = self.base_lr

    def lr_at(self, step: int) -> float:
        if self.kind == "multistep":
            passed = sum(1 for m in self.milestones if step >= m)
            return self.base_lr * self.gamma**passed
        return self.lr

    def observe(self, value: float) -> None:
        """Report a monitored loss (plateau only; ignored otherwise)."""
        if self.kind != "plateau":
            return
        if value < self.best * (1 - self.threshold):
            self.best, self.bad_checks = value, 0
        else:
            self.bad_checks += 1
            if self.bad_checks > self.patience:
                self.lr = max(self.lr * self.gamma, self.min_lr)
                self.bad_checks = 0

    def state_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict) -> LRSchedule:
        return cls(**state)
