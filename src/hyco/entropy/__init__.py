"""Probability models and the entropy coder; the only package that touches constriction."""

from hyco.entropy.coder import Decoder, Encoder, TableSet, decode, encode, quantize_pmf
from hyco.entropy.factorized import FactorizedDensity
from hyco.entropy.gaussian import GaussianConditional

__all__ = [
    "Decoder", "Encoder", "FactorizedDensity", "GaussianConditional", "TableSet", "decode",
    "encode", "quantize_pmf",
]
