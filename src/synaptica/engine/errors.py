"""Errors of the engine that callers handle (kept free of heavy imports for the CLI)."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, or from another network or run."""
