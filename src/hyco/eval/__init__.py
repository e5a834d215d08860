"""Measuring codecs: metrics, classical codecs, RD sweeps, BD-rate, plots, complexity."""
