"""The one registry type: named pieces of one kind, built on demand, with their help text and what they need.

Every family users pick by name is a :class:`Registry`: priors (:data:`pose2instance.priors.PRIORS`), pose
estimators (:data:`pose2instance.estimators.ESTIMATORS`), keypoint file formats
(:data:`pose2instance.io.formats.FORMATS`), person scores and mask methods
(:data:`pose2instance.registry.SCORES`, :data:`~pose2instance.registry.METHODS`). A new piece is one
:meth:`Registry.add`; the command line's choices and help, the page's choices and the error for an unknown
name all read the registry.

An entry's factory imports what it builds when it is called, so registering costs nothing; ``requires``
names the modules it needs (:meth:`Registry.available` offers only the pieces whose modules are installed)
and ``extra`` the package extra that installs them (an ``ImportError`` while building says so).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Entry:
    """One named piece.

    Attributes:
        name: what users type.
        build: the factory (arguments are the family's: e.g. a prior's keyword options).
        help: one line for help texts.
        requires: modules the piece imports (``importlib`` names), for :meth:`Registry.available`.
        extra: the ``pose2instance`` extra that installs them, or None when the default install has them.
        tags: labels a family uses to pick subsets (e.g. the priors offered as fusion methods).
    """

    name: str
    build: Callable[..., Any]
    help: str = ""
    requires: tuple[str, ...] = ()
    extra: str | None = None
    tags: frozenset[str] = frozenset()

    def installed(self) -> bool:
        """Every module of ``requires`` can be imported (found without importing it)."""
        return all(importlib.util.find_spec(module) is not None for module in self.requires)


class Registry(Mapping):
    """Named :class:`Entry` objects of one ``kind`` (a read-only mapping name -> entry, in registration order).

    Args:
        kind: what the entries are, for messages (``"prior"``, ``"person score"`` ...).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, build: Callable[..., Any], help: str = "", requires: tuple[str, ...] = (),
            extra: str | None = None, tags: tuple[str, ...] = ()) -> Entry:
        """Register a piece (a name may be registered once)."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        entry = self._entries[name] = Entry(name, build, help, tuple(requires), extra, frozenset(tags))
        return entry

    def __getitem__(self, name: str) -> Entry:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> Entry:
        """The entry called ``name``; ``ValueError`` listing the choices for an unknown one."""
        if name not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}; choose from {', '.join(self._entries)}")
        return self._entries[name]

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Build the piece called ``name``; an ``ImportError`` names the extra to install."""
        entry = self.entry(name)
        try:
            return entry.build(*args, **kwargs)
        except ImportError as e:
            if entry.extra is None or f"pose2instance[{entry.extra}]" in str(e):
                raise
            raise ImportError(f'{e}; the {self.kind} {name} needs: pip install "pose2instance[{entry.extra}]"') \
                from e

    def names(self, tag: str | None = None) -> tuple[str, ...]:
        """Every name, or those with ``tag``, in registration order."""
        return tuple(n for n, e in self._entries.items() if tag is None or tag in e.tags)

    def available(self, tag: str | None = None) -> tuple[str, ...]:
        """The names (with ``tag``) whose modules are installed."""
        return tuple(n for n in self.names(tag) if self._entries[n].installed())

    def help_text(self) -> str:
        """``name: help`` of every entry, ``; ``-separated (for ``--help``)."""
        return "; ".join(f"{n}: {e.help}" if e.help else n for n, e in self._entries.items())
