"""hyco: learned image and video compression with real bitstreams."""

from hyco.api import compress, decode, decompress, info, load_model
from hyco.errors import CorruptStream, HycoError, ModelMismatch, UnsupportedInput

__version__ = "0.1.0"
__all__ = ["CorruptStream", "HycoError", "ModelMismatch", "UnsupportedInput", "compress",
           "decode", "decompress", "info", "load_model"]
