"""Errors and warnings about a user's input, with fields, so each front end phrases its own advice.

An :class:`InputError` (a ``ValueError``) or :class:`InputWarning` carries the plain ``message`` (naming the
file and field at fault), the ``file`` and ``field`` themselves, and optionally a ``hint``: a key of
:data:`HINTS` with the values it needs. The command line and the web page phrase a hint their own way
(``--image-id`` there, the Image id field here) with :func:`phrase`; ``str()`` gives the Python API's phrasing.
No front end reads advice out of a message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

#: How the Python API phrases each hint (``str()`` of an error or warning).
HINTS = {
    "image_id": "pass image_id",
    "limit": "raise the limit with pose2instance.limits.set_limits({name}=...)",
}


class _Hinted:
    def _init_fields(self, message: str, file: str | Path | None, field: str | None, hint: str | None,
                     values: dict) -> None:
        if hint is not None and hint not in HINTS:
            raise ValueError(f"unknown hint {hint!r}; known: {', '.join(HINTS)}")
        self.message, self.file, self.field, self.hint, self.values = message, file, field, hint, values

    def __str__(self) -> str:
        return phrase(self, HINTS)


class InputError(_Hinted, ValueError):
    """Bad input (see the module doc).

    Args:
        message: what is wrong, naming the file and field.
        file: the file at fault, or None.
        field: the field (or option) at fault, or None.
        hint: a key of :data:`HINTS`, or None.
        **values: what the hint's phrasing needs (``limit``: ``name``, the limit's name, e.g. ``max_pixels``).
    """

    def __init__(self, message: str, file: str | Path | None = None, field: str | None = None,
                 hint: str | None = None, **values):
        super().__init__(message)
        self._init_fields(message, file, field, hint, values)


class InputWarning(_Hinted, UserWarning):
    """Input that was repaired or cut (the same fields as :class:`InputError`)."""

    def __init__(self, message: str, file: str | Path | None = None, field: str | None = None,
                 hint: str | None = None, **values):
        super().__init__(message)
        self._init_fields(message, file, field, hint, values)


def phrase(error: BaseException | Warning, hints: Mapping[str, str]) -> str:
    """The text of ``error`` for a front end: its message, then its hint in ``hints``' words (any other
    exception: ``str(error)``)."""
    if not isinstance(error, _Hinted):
        return str(error)
    if error.hint is None or error.hint not in hints:
        return error.message
    return f"{error.message}; {hints[error.hint].format(**error.values)}"
