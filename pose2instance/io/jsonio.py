"""JSON in and out: parsing with errors that name the file and field, strict JSON, atomic writes.

* :func:`read_json` parses a file once; malformed, truncated, empty or non-UTF-8
  files raise :class:`FormatError` naming the file and the position.
* ``require_fields`` / ``integer_field`` / ``number_list`` / ``xywh_box`` check one
  field of one entry and raise :class:`FormatError` naming ``what`` (the file and
  the entry's index) and the field.
* :func:`json_safe` turns NaN and infinities into ``null`` (strict JSON) and numpy
  scalars into Python numbers.
* :func:`atomic_write` / :func:`atomic_write_text`: write to a temporary file in the
  same folder, then rename it into place, so readers never see a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InputError


class FormatError(InputError):
    """A file that is malformed or misses a required field (the message names the file and field)."""


#: The name the COCO readers have always used for :class:`FormatError`.
CocoFormatError = FormatError


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; malformed or truncated files raise :class:`FormatError` with the position."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); is it a JSON file?") from e
    if not text.strip():
        raise FormatError(f"{path}: file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}"
                          " (truncated or malformed file?)") from e
    except RecursionError:
        raise FormatError(f"{path}: JSON nested too deeply to read (thousands of levels of lists or objects); "
                          "no pose2instance format nests more than a few") from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise FormatError(f"{path}: unreadable JSON value ({e})") from None


def require_fields(entry: Any, fields: tuple[str, ...], what: str) -> None:
    """``entry`` is an object holding every name of ``fields``, or a :class:`FormatError` naming ``what``."""
    if not isinstance(entry, Mapping):
        raise FormatError(f"{what}: expected an object, got {type(entry).__name__}")
    missing = [f for f in fields if f not in entry]
    if missing:
        raise FormatError(f"{what}: missing field(s) {', '.join(missing)}")


def integer_field(entry: Mapping, field: str, what: str) -> int:
    """``int(entry[field])`` for an integral number (or numeric string) that fits in 64 bits, or a
    :class:`FormatError` naming the field."""
    value = entry.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FormatError(f"{what}: '{field}' must be an integer, got {_brief(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        number = float("nan")
    if not np.isfinite(number) or number != int(number) or not -2**63 <= number < 2**63:
        raise FormatError(f"{what}: '{field}' must be an integer of at most 64 bits, got {_brief(value)}")
    return int(number)


def _brief(value: Any) -> str:
    """``repr(value)``, at most 80 characters (a huge integer is described by its size)."""
    if isinstance(value, int) and value.bit_length() > 200:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def number_list(values: Any, field: str, what: str, count: int | None = None) -> np.ndarray:
    """A list of finite numbers as float64 (``count`` of them if given), or a :class:`FormatError`."""
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError, OverflowError):
        raise FormatError(f"{what}: '{field}' must be a list of numbers, got {str(values)[:80]}") from None
    if count is not None and arr.size != count:
        raise FormatError(f"{what}: '{field}' must hold {count} numbers, got {arr.size}: {str(values)[:80]}")
    if not np.isfinite(arr).all():
        raise FormatError(f"{what}: '{field}' has a non-finite value: {str(values)[:80]}")
    return arr


def xywh_box(values: Any, what: str, positive: bool = False) -> np.ndarray:
    """A COCO ``bbox`` ``[x, y, w, h]`` as float64: ``w, h >= 0`` (``> 0`` with ``positive``), else
    :class:`FormatError`."""
    box = number_list(values, "bbox", what, 4)
    if box[2] < 0 or box[3] < 0 or (positive and (box[2] == 0 or box[3] == 0)):
        raise FormatError(f"{what}: 'bbox' must be [x, y, w, h] with w, h {'>' if positive else '>='} 0, "
                          f"got {values}")
    return box


def json_safe(value: Any) -> Any:
    """A JSON-ready copy: NaN and infinities -> ``None``; arrays, tensors and numpy scalars -> Python values."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars, torch tensors
        value = value.tolist()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it onto ``path``.

    Readers see the old file or the complete new one, never a half-written one; on
    any error the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a quota, a read-only folder: name the file the user asked for
        if os.path.exists(tmp):
            os.unlink(tmp)
        if e.filename == str(path):
            raise
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write a UTF-8 text file atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path: str | Path, value: Any, indent: int | None = None) -> Path:
    """Write ``value`` as strict JSON (NaN -> null, see :func:`json_safe`), atomically."""
    return atomic_write_text(path, json.dumps(json_safe(value), indent=indent, allow_nan=False))
