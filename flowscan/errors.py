"""flowscan's own exceptions.

The library raises these; the CLI turns each into one line on stderr and an exit code.
Messages never carry account data: they name files, columns, row numbers and counts.
"""

from __future__ import annotations


class FlowscanError(Exception):
    """Base class of every error flowscan raises on purpose."""


class ConfigError(FlowscanError, ValueError):
    """An option, a configuration key or a command-line flag has a wrong value."""


class ConfigTypeError(ConfigError, TypeError):
    """An option has a value of the wrong type."""


class DataError(FlowscanError, ValueError):
    """The input data cannot be used as it is (the run cannot go on)."""


class CorruptFileError(DataError):
    """A file cannot be read at all: truncated, bad checksum, not the format it claims."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SchemaMismatchError(DataError):
    """The files of one dataset disagree on a column's type or on their columns."""


class RejectLimitError(DataError):
    """More rows were rejected than the run allows (--max-reject-rate or --on-bad-rows fail)."""


class OutOfMemoryError(FlowscanError, MemoryError):
    """The run needed more memory than it could get; it names the stage, and nothing was written."""
