"""Errors a user can cause. Each carries one line that the CLI prints as it is."""


class HycoError(Exception):
    """Base of every error hyco raises on purpose; the CLI prints it without a traceback."""


class CorruptStream(HycoError):
    """The file is not a valid .hyco file: foreign, truncated, flipped bytes, absurd header."""


class ModelMismatch(HycoError):
    """The file was written with other weights (or another codec) than the decoder has."""


class UnsupportedInput(HycoError):
    """An input the codec cannot take: not an image, empty, transparency, odd bit depth."""
