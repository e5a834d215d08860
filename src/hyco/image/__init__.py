"""Learned image codecs: one module per family, all sharing :class:`ImageCodec`."""

from hyco.image.base import ImageCodec
from hyco.image.channel_checkerboard_vr import VariableRateChannelCheckerboard
from hyco.image.checkerboard_vr import VariableRateCheckerboard
from hyco.image.context import Checkerboard, JointAutoregressive
from hyco.image.factorized import FactorizedPrior
from hyco.image.hific import HiFiC, HiFiCMixture, HiFiCPaper
from hyco.image.hyperprior import MeanScaleHyperprior, ScaleHyperprior
from hyco.image.qres import QARV, QARVPaper, QResVAE, QResVAEPaper
from hyco.image.variable_rate import VariableRateMeanScale

__all__ = ["Checkerboard", "FactorizedPrior", "HiFiC", "HiFiCMixture", "HiFiCPaper", "ImageCodec",
           "JointAutoregressive",
           "MeanScaleHyperprior", "QARV", "QARVPaper", "QResVAE", "QResVAEPaper",
           "ScaleHyperprior", "VariableRateChannelCheckerboard", "VariableRateCheckerboard",
           "VariableRateMeanScale"]
