"""Reading a JSON job spec with errors that name the field and what was expected."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import SpecError

_MISSING = object()


def load_spec(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"job spec {p} does not exist") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"job spec {p}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(spec, dict):
        raise SpecError(f"job spec {p}: expected a JSON object at the top level, got {type(spec).__name__}")
    return spec


class Fields:
    """Typed access to one object of the spec; `where` is its dotted path for messages."""

    def __init__(self, obj: Any, where: str):
        if not isinstance(obj, dict):
            raise SpecError(f"spec field {where}: expected an object, got {_kind(obj)}")
        self.obj = obj
        self.where = where

    def _get(self, key: str, default: Any) -> Any:
        if key in self.obj and self.obj[key] is not None:
            return self.obj[key]
        if default is _MISSING:
            raise SpecError(f"spec field {self._path(key)} is required")
        return default

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def str(self, key: str, default: Any = _MISSING, choices: Iterable[str] | None = None) -> str:
        v = self._get(key, default)
        if not isinstance(v, str) or not v:
            raise SpecError(f"spec field {self._path(key)}: expected a non-empty string, got {_kind(v)}")
        if choices is not None and v not in choices:
            raise SpecError(f"spec field {self._path(key)}: expected one of {sorted(choices)}, got {v!r}")
        return v

    def int(self, key: str, default: Any = _MISSING, minimum: int | None = None) -> int:
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise SpecError(f"spec field {self._path(key)}: expected an integer, got {_kind(v)}")
        if minimum is not None and v < minimum:
            raise SpecError(f"spec field {self._path(key)}: expected an integer >= {minimum}, got {v}")
        return v

    def float(
        self, key: str, default: Any = _MISSING, lo: float | None = None, hi: float | None = None,
        gt: float | None = None, lt: float | None = None,
    ) -> float:
        """A number within [lo, hi] (inclusive) and (gt, lt) (exclusive), as a float."""
        return float(self.number(key, default, lo=lo, hi=hi, gt=gt, lt=lt))

    def number(
        self, key: str, default: Any = _MISSING, lo: float | None = None, hi: float | None = None,
        gt: float | None = None, lt: float | None = None,
    ) -> int | float:
        """Like float(), but an integer stays an integer."""
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(f"spec field {self._path(key)}: expected a number, got {_kind(v)}")
        bounds = [(lo, ">=", lambda b: v >= b), (gt, ">", lambda b: v > b), (hi, "<=", lambda b: v <= b), (lt, "<", lambda b: v < b)]
        if not all(ok(b) for b, _, ok in bounds if b is not None):
            wanted = " and ".join(f"{op} {b}" for b, op, _ in bounds if b is not None)
            raise SpecError(f"spec field {self._path(key)}: expected a number {wanted}, got {v}")
        return v

    def int_or_none(self, key: str, minimum: int | None = None) -> int | None:
        """An optional integer: absent or null is None."""
        return None if self.obj.get(key) is None else self.int(key, minimum=minimum)

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        v = self._get(key, default)
        if not isinstance(v, bool):
            raise SpecError(f"spec field {self._path(key)}: expected true or false, got {_kind(v)}")
        return v

    def ints(self, key: str, default: Any = _MISSING) -> list[int]:
        v = self._get(key, default)
        if not isinstance(v, Sequence) or isinstance(v, str) or not v or not all(
            isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v
        ):
            raise SpecError(f"spec field {self._path(key)}: expected a non-empty list of positive integers, got {v!r}")
        return list(v)

    def obj_or_none(self, key: str) -> "Fields | None":
        v = self.obj.get(key)
        return None if v is None else Fields(v, self._path(key))

    def sub(self, key: str) -> "Fields":
        return Fields(self._get(key, _MISSING), self._path(key))

    def only(self, known: Iterable[str]) -> "Fields":
        """Refuses keys this object does not have (a typo would otherwise be a silent default)."""
        unknown = sorted(set(self.obj) - set(known))
        if unknown:
            where = f"spec field {self.where}" if self.where else "spec"
            raise SpecError(f"{where}: unknown keys {unknown} (known: {sorted(known)})")
        return self

    def fail(self, key: str, expected: str) -> SpecError:
        """The error for a value of `key` that the typed getters cannot check."""
        return SpecError(f"spec field {self._path(key)}: expected {expected}, got {_kind(self.obj.get(key))}")

    def str_map(self, key: str) -> dict[str, str]:
        v = self._get(key, _MISSING)
        if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) and x for k, x in v.items()):
            raise SpecError(f"spec field {self._path(key)}: expected an object of name -> file path strings")
        return dict(v)


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, str):
        return f"string {v!r}" if len(v) < 40 else "a string"
    return f"{type(v).__name__} {v!r}" if isinstance(v, (int, float, bool)) else type(v).__name__
