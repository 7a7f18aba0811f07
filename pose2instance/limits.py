"""Size limits on inputs, so that one absurd file fails early with a clear message instead of
allocating tens of gigabytes.

The defaults suit photos and COCO-style data; raise them with the CLI options named below,
or in Python with :func:`set_limits` (it returns the previous values, to restore them).

* ``max_pixels`` - an image, an annotation's image size or an RLE ``size`` larger than
  ``H * W`` pixels is refused (``--max-pixels``; default 40 megapixels, e.g. 7744 x 5164).
  Peak memory of the training-free pipeline grows with pixels times people.
* ``max_people`` - at most this many people per image: a keypoint results file with more
  keeps the highest-scoring ones with a warning (COCO evaluation scores at most 100
  detections per image anyway); an annotation file with more non-crowd persons on one image
  is refused (``--max-people``; default 100).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

from .errors import InputError


@dataclass
class Limits:
    """The current limits (see the module doc)."""

    max_pixels: int = 40_000_000
    max_people: int = 100


LIMITS = Limits()


def set_limits(**values: int | None) -> dict[str, int]:
    """Change limits by name (None keeps one); returns the previous values of all of them.

    Raises:
        ValueError: an unknown name or a value that is not a positive integer.
    """
    names = {f.name for f in fields(Limits)}
    before = {name: getattr(LIMITS, name) for name in names}
    for name, value in values.items():
        if name not in names:
            raise ValueError(f"unknown limit {name!r}; known: {', '.join(sorted(names))}")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"limit {name} must be a positive integer, got {value!r}")
        setattr(LIMITS, name, value)
    return before


def check_pixels(height: int, width: int, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` when an ``height x width`` raster is over ``max_pixels``."""
    if height * width > LIMITS.max_pixels:
        raise InputError(f"{what}: {width}x{height} is {height * width / 1e6:.1f} megapixels, over the limit of "
                         f"{LIMITS.max_pixels / 1e6:g}", field="max_pixels", hint="limit", name="max_pixels",
                         option="max-pixels")


def positive_int(text: str) -> int:
    """argparse type: a positive integer."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def number_in(low: float, high: float = float("inf"), low_open: bool = False):
    """argparse type: a finite number from ``low`` to ``high`` (``low`` itself excluded with ``low_open``)."""
    def parse(text: str) -> float:
        value = float(text)
        if not (low < value if low_open else low <= value) or not value <= high or value != value \
                or value in (float("inf"), float("-inf")):
            bound = f"above {low:g}" if low_open else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}"
                                             + (f" and at most {high:g}" if high != float("inf") else "")
                                             + f", got {text}")
        return value
    parse.__name__ = "number"
    return parse


def add_limit_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--max-pixels`` / ``--max-people`` options of every command that reads data."""
    g = p.add_argument_group("limits", "inputs over a limit are refused early, with a message (pose2instance.limits)")
    g.add_argument("--max-pixels", type=positive_int, default=Limits.max_pixels,
                   help="largest image (and mask) in pixels")
    g.add_argument("--max-people", type=positive_int, default=Limits.max_people,
                   help="most people per image: annotation files with more are refused, keypoint files keep the "
                        "highest-scoring ones with a warning")


def apply_limit_arguments(args: argparse.Namespace) -> None:
    """Set the process's limits from parsed :func:`add_limit_arguments` options."""
    set_limits(max_pixels=args.max_pixels, max_people=args.max_people)


#: The web page's default limit of one request's body (photo and JSON files together), in megabytes.
MAX_UPLOAD_MB = 25
#: The web page's default number of finished jobs whose files are kept (older ones are deleted).
KEEP_JOBS = 20
