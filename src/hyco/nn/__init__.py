"""Reusable layers: GDN/IGDN, integer-exact inference, derived-state caching."""

from hyco.nn.derived import Derived
from hyco.nn.exact import FRAC_BITS, exact_forward
from hyco.nn.gdn import GDN
from hyco.nn.ops import conv, deconv, lower_bound

__all__ = ["FRAC_BITS", "GDN", "Derived", "conv", "deconv", "exact_forward", "lower_bound"]
