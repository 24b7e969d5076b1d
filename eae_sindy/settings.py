"""Typed, range-checked settings: the one validator behind every configuration dataclass.

A settings class is a frozen dataclass that derives from :class:`Settings` and names its section.
Each field's annotation says what it accepts — the type (``int``, ``float``, ``bool``, ``str``,
``tuple[int, ...]``, optionally ``| None``), the allowed values (``Literal[...]``) and the range
(``Annotated[float, POSITIVE]``) — and the values are checked when the object is built, so an
invalid setting never gets past the boundary::

    @dataclass(frozen=True)
    class SamplerConfig(Settings, section="sampler"):
        temperature: Annotated[float, POSITIVE] = 1e-4

    SamplerConfig(temperature=float("nan"))
    # ConfigError: sampler.temperature must be a finite number, got nan

:func:`settings_from_dict` builds one from a JSON/TOML table with strict keys, turning lists into
tuples and integers into floats where the annotation asks for them; :func:`overlay` lays a nested
table (sections and top-level values) over a whole configuration, and
:func:`read_settings_file` reads that table from a JSON or TOML file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from eae_sindy.errors import ConfigError

__all__ = [
    "FRACTION",
    "NON_NEGATIVE",
    "POSITIVE",
    "SEED",
    "Range",
    "Settings",
    "overlay",
    "read_settings_file",
    "settings_from_dict",
]


@dataclass(frozen=True)
class Range:
    """Bounds on a number (each optional; ``gt``/``lt`` strict, ``ge``/``le`` inclusive)."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    text: str = ""

    def admits(self, value: float) -> bool:
        return not (
            (self.gt is not None and not value > self.gt)
            or (self.ge is not None and not value >= self.ge)
            or (self.lt is not None and not value < self.lt)
            or (self.le is not None and not value <= self.le)
        )


POSITIVE = Range(gt=0, text="positive")
NON_NEGATIVE = Range(ge=0, text=">= 0")
FRACTION = Range(gt=0, lt=1, text="in (0, 1)")
SEED = Range(ge=0, lt=2**32, text="an integer in [0, 2**32)")


@dataclass(frozen=True)
class _Rule:
    """What one field accepts, read once from its annotation."""

    kind: type  # bool, int, float, str or tuple (of ``item``)
    item: type | None
    optional: bool
    allowed: tuple[Any, ...] | None
    bounds: tuple[Range, ...]


def _unwrap(annotation: Any) -> tuple[Any, tuple[Range, ...]]:
    """``Annotated[T, *bounds]`` → (T, bounds); anything else → (it, ())."""
    if typing.get_origin(annotation) is Annotated:
        annotation, *extras = typing.get_args(annotation)
        return annotation, tuple(e for e in extras if isinstance(e, Range))
    return annotation, ()


def _rule(annotation: Any) -> _Rule:
    annotation, bounds = _unwrap(annotation)
    optional = False
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        (annotation,) = members
        annotation, more = _unwrap(annotation)
        bounds += more
    allowed = None
    if typing.get_origin(annotation) is Literal:
        allowed = typing.get_args(annotation)
        annotation = type(allowed[0])
    item = None
    if typing.get_origin(annotation) is tuple:
        item, more = _unwrap(typing.get_args(annotation)[0])
        bounds += more
        annotation = tuple
    return _Rule(annotation, item, optional, allowed, bounds)


@functools.cache
def _rules(cls: type) -> dict[str, _Rule]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: _rule(hints[f.name]) for f in dataclasses.fields(cls)}


def _scalar(value: Any, kind: type, bounds: tuple[Range, ...], name: str) -> Any:
    """``value`` checked (and an int widened to float) for a scalar of ``kind``; raises."""
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if kind is int and not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if kind is float:
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
        value = float(value)
    for bound in bounds:
        if not bound.admits(value):
            raise ConfigError(f"{name} must be {bound.text}, got {value!r}")
    return value


def _checked(value: Any, rule: _Rule, name: str) -> Any:
    if value is None:
        if rule.optional:
            return None
        raise ConfigError(f"{name} must be set, got None")
    if isinstance(rule.kind, type) and issubclass(rule.kind, Settings):
        if not isinstance(value, rule.kind):
            raise ConfigError(f"[{name}] must be a {rule.kind.__name__}, got {value!r}")
        return value
    if rule.kind is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        return tuple(
            _scalar(v, rule.item, rule.bounds, f"{name}[{i}]") for i, v in enumerate(value)
        )
    value = _scalar(value, rule.kind, rule.bounds, name)
    if rule.allowed is not None and value not in rule.allowed:
        choices = [repr(a) for a in rule.allowed]
        text = " or ".join(choices) if len(choices) < 3 else f"one of {', '.join(choices)}"
        raise ConfigError(f"{name} must be {text}, got {value!r}")
    return value


class Settings:
    """Base of the configuration dataclasses: checks every field against its annotation when the
    object is built. Subclasses name their section: ``class X(Settings, section="sampler")``."""

    section: ClassVar[str] = ""

    def __init_subclass__(cls, section: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if section:
            cls.section = section

    def __post_init__(self) -> None:
        prefix = f"{self.section}." if self.section else ""
        for name, rule in _rules(type(self)).items():
            value = _checked(getattr(self, name), rule, prefix + name)
            object.__setattr__(self, name, value)
        self.check()

    def check(self) -> None:
        """Checks that involve several fields (override; raise :class:`ConfigError`)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """The table of a JSON (``.json``) or TOML (``.toml``) settings file; :class:`ConfigError`
    names the file when it is missing, malformed or not a table."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    toml = path.suffix.lower() == ".toml"
    try:
        text = path.read_text()
        values = tomllib.loads(text) if toml else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid {'TOML' if toml else 'JSON'}: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: the top level must be an object/table")
    return values


def overlay(
    base: Any,
    values: dict[str, Any],
    source: str = "config",
    *,
    keys: tuple[str, ...] | None = None,
    ignore: tuple[str, ...] = (),
) -> Any:
    """``base`` (settings whose fields are sections and top-level values) with the nested dict
    ``values`` overlaid: a section's table changes only the keys it names. ``keys`` limits the
    top-level names a file may set (default: every field); names in ``ignore`` are skipped.
    Every value is checked; :class:`ConfigError` names ``source`` and the field."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: the top level must be an object/table")
    known = keys or tuple(f.name for f in dataclasses.fields(base))
    unknown = sorted(set(values) - set(known) - set(ignore))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(map(str, unknown))}; known top-level keys: "
            f"{', '.join(known)}"
        )
    try:
        changes = {}
        for name, value in values.items():
            if name in ignore:
                continue
            current = getattr(base, name)
            if isinstance(current, Settings):
                value = settings_from_dict(type(current), value, current)
            changes[name] = value
        return dataclasses.replace(base, **changes)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def settings_from_dict(cls: type, values: dict[str, Any], base: Any = None) -> Any:
    """``cls`` built from ``base`` (default: ``cls()``) with ``values`` overlaid; unknown keys and
    invalid values raise :class:`ConfigError` naming ``section.key``."""
    section = cls.section
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table/object, got {values!r}")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
            f"known keys in [{section}]: {', '.join(known)}"
        )
    base = cls() if base is None else base
    return dataclasses.replace(base, **values)
