"""HiFiC's rate controller: a rate weight that switches on whether the batch is over target.

The loss carries ``lambda' * bpp`` with lambda' = lambda_a (large) while the batch's rate is
above the regime's target r_t and lambda_b (small) once it is below (Mentzer et al. 2020,
sec. 3.2): training then settles near r_t whatever the other loss weights do, which is how
one architecture serves the three regimes. The decision uses the rate of the *rounded*
latents (what a file would cost); the penalty multiplies the noisy, differentiable rate.

Schedules, from the reference configuration, expressed as fractions of a stage so that a
short CPU run follows the same shape as the paper's 1M-step stages: for the first 5 % of
the steps (50k of 1M) the target is relaxed by 0.20/0.14 and both lambdas are halved;
afterwards they hold their regime values.
"""

from __future__ import annotations

from dataclasses import dataclass

from hyco.image.hific import REGIMES

RATE_WEIGHT_ABOVE = {"low": 2.0**1, "med": 2.0**0, "high": 2.0**-1}
"""lambda_a per regime: the rate weight while the rate is above the target."""
RATE_WEIGHT_BELOW = 2.0**-4
"""lambda_b: the rate weight once below the target (the same for every regime)."""
RELAX_FRACTION = 0.05
RELAX_TARGET = 0.20 / 0.14
RELAX_WEIGHT = 0.5


@dataclass(frozen=True)
class RateControl:
    """Rate weight for a step, from the regime's target and the batch's coded rate."""

    target: float
    above: float
    below: float = RATE_WEIGHT_BELOW
    relax_steps: int = 0

    @classmethod
    def for_regime(cls, regime: str, total_steps: int, above: float | None = None
                   ) -> RateControl:
        """The paper's controller for ``regime``; ``above`` overrides lambda_a (--lmbda)."""
        return cls(target=REGIMES[regime],
                   above=RATE_WEIGHT_ABOVE[regime] if above is None else above,
                   relax_steps=round(RELAX_FRACTION * total_steps))

    def target_at(self, step: int) -> float:
        return self.target * (RELAX_TARGET if step < self.relax_steps else 1.0)

    def weight(self, step: int, coded_bpp: float) -> float:
        """lambda' for ``step`` given the batch's rate with rounded latents."""
        w = self.above if coded_bpp > self.target_at(step) else self.below
        return w * (RELAX_WEIGHT if step < self.relax_steps else 1.0)
