"""Readers: files and directories to staged record batches (see :mod:`.sources`, :mod:`.presets`)."""

from .presets import PRESETS, Preset, Staged, detect
from .sources import SourceFile, expand

__all__ = ["PRESETS", "Preset", "SourceFile", "Staged", "detect", "expand"]
