"""Errors of the engine that callers handle (kept free of heavy imports for the CLI)."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, or from another network or run."""


class NonFiniteError(FloatingPointError):
    """A quantity of a run (loss, parameter, state) became NaN or infinite.

    The message names what became non-finite and where (population, epoch, step), so
    a run that can no longer mean anything stops instead of reporting garbage.
    Subclasses FloatingPointError, which callers already catch for this purpose.
    """
