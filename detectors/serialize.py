"""JSON round-trip of the detectors' state dataclasses (stress baseline, rules, falls).

``state_to_json`` turns a frozen dataclass into plain JSON types; ``state_from_json``
rebuilds it from the dataclass's type hints, so tuples come back as tuples, nested
dataclasses as dataclasses, and non-finite floats (encoded as the strings ``"nan"``,
``"inf"``, ``"-inf"``, since JSON has no NaN) as floats. The round trip is exact:
``state_from_json(type(s), json.loads(json.dumps(state_to_json(s)))) == s`` (NaN fields
compare by identity of meaning, see the tests).

Checkpoints outlive the code that wrote them, so they carry a version: ``upgrade_state``
brings an older one to the current version through a table of one-step upgrades, and
raises :class:`StateMismatch` (naming why) for one it cannot read, which the caller resets
to a fresh state instead of failing.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "StateMismatch",
    "UnknownStateVersion",
    "Upgrade",
    "state_from_json",
    "state_to_json",
    "upgrade_state",
]

T = TypeVar("T")

_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


#: One step of a checkpoint's migration: the fields of version ``v`` to those of ``v + 1``
#: (a new dict; the argument is left as it is).
Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


class StateMismatch(ValueError):
    """A checkpoint this code cannot read; the message says why (version, field, shape)."""


class UnknownStateVersion(StateMismatch):
    """A checkpoint of a version with no upgrade to the current one (or a newer one)."""


def upgrade_state(
    data: Any,
    *,
    current: int,
    upgrades: Mapping[int, Upgrade],
    unversioned: int = 1,
    key: str = "version",
) -> dict[str, Any]:
    """The fields of checkpoint ``data`` at version ``current``, without the version key.

    Pure. ``data[key]`` is the version the checkpoint was written with (``unversioned``
    when absent: checkpoints written before versions existed); ``upgrades[v]`` turns the
    fields of version ``v`` into those of ``v + 1`` and is applied from the checkpoint's
    version up to ``current``.

    Raises
    ------
    StateMismatch
        If ``data`` is not a JSON object.
    UnknownStateVersion
        If the version is not an integer, is newer than ``current`` (written by a later
        release) or has no chain of upgrades to ``current``.

    Examples
    --------
    >>> rename = {1: lambda f: {("gravity_g" if k == "g" else k): v for k, v in f.items()}}
    >>> upgrade_state({"g": [0, 0, 1]}, current=2, upgrades=rename)
    {'gravity_g': [0, 0, 1]}
    >>> upgrade_state({"version": 2, "gravity_g": [0, 0, 1]}, current=2, upgrades=rename)
    {'gravity_g': [0, 0, 1]}
    """
    if not isinstance(data, dict):
        raise StateMismatch(f"expected a JSON object, got {type(data).__name__}")
    version = data.get(key, unversioned)
    if isinstance(version, bool) or not isinstance(version, int):
        raise UnknownStateVersion(f"version {version!r} is not an integer")
    if version > current:
        raise UnknownStateVersion(f"version {version} is newer than this release reads ({current})")
    fields = {name: value for name, value in data.items() if name != key}
    for step_from in range(version, current):
        step = upgrades.get(step_from)
        if step is None:
            raise UnknownStateVersion(f"no upgrade from version {step_from} to {step_from + 1}")
        fields = step(fields)
    return fields


def state_to_json(state: Any) -> dict[str, Any]:
    """Plain JSON-able dict of a state dataclass.

    Examples
    --------
    >>> from detectors.stress import StressBaseline
    >>> state_to_json(StressBaseline(n_windows=2, mean_hr_bpm=61.5))["mean_hr_bpm"]
    61.5
    """
    if not dataclasses.is_dataclass(state) or isinstance(state, type):
        raise TypeError(f"state_to_json needs a dataclass instance, got {type(state).__name__}")
    out = _encode(state)
    assert isinstance(out, dict)
    return out


def state_from_json(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a state dataclass ``cls`` from :func:`state_to_json` output.

    Raises
    ------
    TypeError
        If ``cls`` is not a dataclass or ``data`` is not a dict.
    ValueError
        If a field is missing or unknown (named in the message).
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"state_from_json needs a dataclass type, got {cls!r}")
    result = _decode(cls, data, cls.__name__)
    return typing.cast(T, result)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if hasattr(value, "item"):  # NumPy scalar
        return _encode(value.item())
    raise TypeError(f"cannot serialise {type(value).__name__} value {value!r}")


def _decode(tp: Any, value: Any, where: str) -> Any:
    """Rebuild ``value`` as type ``tp``; ``where`` names the field in error messages."""
    if tp is Any:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, value, where)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _decode_union(typing.get_args(tp), value, where)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ValueError(f"{where}: {value!r} not one of {typing.get_args(tp)}")
        return value
    if origin in (tuple, list, dict):
        return _decode_container(origin, typing.get_args(tp), value, where)
    return _decode_scalar(tp, value, where)


def _decode_dataclass(tp: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise TypeError(f"{where}: expected an object, got {type(value).__name__}")
    hints = typing.get_type_hints(tp)
    names = {f.name for f in dataclasses.fields(tp) if f.init}
    unknown = set(value) - names
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    kwargs = {k: _decode(hints[k], v, f"{where}.{k}") for k, v in value.items()}
    try:
        return tp(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _decode_union(args: tuple[Any, ...], value: Any, where: str) -> Any:
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _decode(arg, value, where)
        except (TypeError, ValueError) as exc:
            errors.append(str(exc))
    raise TypeError(f"{where}: {value!r} matches none of {args}: {errors}")


def _decode_container(origin: Any, args: tuple[Any, ...], value: Any, where: str) -> Any:
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected an object, got {type(value).__name__}")
        key_t, val_t = args if args else (Any, Any)
        return {
            _decode(key_t, k, where): _decode(val_t, v, f"{where}[{k}]") for k, v in value.items()
        }
    if not isinstance(value, list):
        raise TypeError(f"{where}: expected a list, got {type(value).__name__}")
    if origin is list or (len(args) == 2 and args[1] is Ellipsis) or not args:
        item_t = args[0] if args else Any
        items = [_decode(item_t, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if len(args) != len(value):
        raise ValueError(f"{where}: expected {len(args)} items, got {len(value)}")
    pairs = enumerate(zip(args, value, strict=True))
    return tuple(_decode(a, v, f"{where}[{i}]") for i, (a, v) in pairs)


def _decode_scalar(tp: Any, value: Any, where: str) -> Any:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is float and isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if tp is float and is_number:
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is int and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)  # int dict keys arrive as strings
    if (tp is bool and isinstance(value, bool)) or (tp is str and isinstance(value, str)):
        return value
    if tp is type(None) and value is None:
        return None
    raise TypeError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")
