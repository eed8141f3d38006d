"""The errors services raise for the API (and other callers) to translate."""

from __future__ import annotations

__all__ = ["ConflictError"]


class ConflictError(Exception):
    """The request conflicts with existing data: duplicates, rows still in use.

    Raised before anything changes. The API answers it with a 409 whose
    ``error`` is the message.
    """
