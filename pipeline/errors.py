"""Typed errors. Each carries the exit code the CLI maps it to; per-product errors carry a reason for the report."""
from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_SOME_FAILED = 3
EXIT_NO_INPUT = 66  # catalog missing or unreadable (sysexits EX_NOINPUT)
EXIT_CANT_PUBLISH = 73  # publish could not write its destination (sysexits EX_CANTCREAT)
EXIT_LOCKED = 75  # another run is writing the same output (sysexits EX_TEMPFAIL: try again later)
EXIT_CONFIG = 78  # a required model file or motion clip is missing (sysexits EX_CONFIG)


class AnimateError(Exception):
    exit_code = EXIT_USAGE


class UsageError(AnimateError):
    exit_code = EXIT_USAGE


class CatalogError(AnimateError):
    exit_code = EXIT_NO_INPUT


class PublishError(AnimateError):
    """The publish destination cannot take the new set (a name in the way, a disk error); the old set stays."""

    exit_code = EXIT_CANT_PUBLISH


class RunLockedError(AnimateError):
    exit_code = EXIT_LOCKED


class MissingFileError(AnimateError):
    """A model file or motion clip the run needs is not there: says which, where it goes, and what to use instead."""

    exit_code = EXIT_CONFIG

    def __init__(self, what: str, path: str, hint: str):
        self.what, self.path, self.hint = what, path, hint
        super().__init__(f"{what} is missing: {path}. {hint}")


class ProductError(Exception):
    """One product cannot be processed; the batch goes on and the report shows `reason`."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
