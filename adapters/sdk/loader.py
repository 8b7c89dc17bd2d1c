"""Finding adapters: the ``renkei.adapters`` entry-point group, plus mapping files.

Built-in adapters are declared in this project's ``pyproject.toml`` exactly as a third
party declares its own in its package::

    [project.entry-points."renkei.adapters"]
    my_city_buses = "my_city_adapters.buses:BusAdapter"

so ``pip install my-city-adapters`` is all it takes for ``renkei adapters list`` to show
it. An entry point names an :class:`Adapter` subclass. Declarative adapters are TOML
mapping files, loaded from the directories given (``--mappings DIR``) and from
``adapters/examples/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from adapters.sdk.base import Adapter

__all__ = ["ENTRY_POINT_GROUP", "AdapterFactory", "discover", "load"]

ENTRY_POINT_GROUP = "renkei.adapters"

#: builds an adapter for a source (None = its default fixture)
AdapterFactory = Callable[..., Adapter]


def _mapping_dirs(extra: Iterable[Path]) -> list[Path]:
    return [Path(__file__).resolve().parent.parent / "examples", *extra]


def discover(mapping_dirs: Iterable[Path] = ()) -> dict[str, Any]:
    """{adapter id: Adapter subclass or DeclarativeMapping} of everything installed."""
    from adapters.declarative import DeclarativeMapping

    found: dict[str, Any] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not an Adapter subclass")
        found[cls.manifest.id] = cls
    for d in _mapping_dirs(mapping_dirs):
        for path in sorted(Path(d).glob("*.toml")):
            mapping = DeclarativeMapping.from_file(path)
            found[mapping.manifest.id] = mapping
    return found


def load(adapter_id: str, source: str | None = None, *, mapping_dirs: Iterable[Path] = (),
         options: dict[str, Any] | None = None) -> Adapter:
    """An adapter instance by id, reading ``source`` (or its default fixture)."""
    found = discover(mapping_dirs)
    if adapter_id not in found:
        raise KeyError(f"no adapter {adapter_id!r}; installed: {', '.join(sorted(found))}")
    target = found[adapter_id]
    if isinstance(target, type):
        inst: Adapter = target(source, options=options)
        return inst
    return target.adapter(source)
