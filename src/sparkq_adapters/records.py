"""Task records: each field's SQLite column and JSON form, from the one field list of the `Task` entity.

A field's storage follows from its declared type (`KINDS`): text and integers as they are, times as
ISO-8601 UTC text with `Z`, JSON objects as compact JSON text, enums by their value. The row
mapping (`from_row`, `to_row`, the columns) and the JSON object (`to_dict`) are generated once, at
import, from `attrs.fields(Task)`: a field added to `Task` (with its column added by a migration)
reaches the SQLite adapter, the task JSON of the CLI and the API, without another edit. They are
compiled to plain functions, as attrs compiles `__init__`, because they run for every row a query
returns and every task a command prints; importing cattrs for this would cost every `peek` and
`claim` process ~20 ms.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, Generic, TypeVar

import attrs

from sparkq_domain import Task, model

from .clock import format_optional, format_time, parse_optional, parse_time


class Kind:
    """How values of one declared type are stored and shown: Python expressions of `{v}`."""

    # a plain class: a NamedTuple or an attrs class compiles code when it is made, at every CLI start
    __slots__ = ("from_column", "to_column", "to_json")

    def __init__(self, to_column: str, from_column: str, to_json: str) -> None:
        self.to_column = to_column
        self.from_column = from_column
        self.to_json = to_json


_SAME = Kind("{v}", "{v}", "{v}")
_TIME = Kind("format_time({v})", "parse_time({v})", "format_time({v})")
_OPTIONAL_TIME = Kind("format_optional({v})", "parse_optional({v})", "format_optional({v})")
_OBJECT = Kind("encode_json({v})", "decode_json({v})", "{v}")
_OPTIONAL_OBJECT = Kind(
    "(None if {v} is None else encode_json({v}))", "(None if {v} is None else decode_json({v}))", "{v}"
)

#: each declared type (as written in the entity) that a record field may have
KINDS: Mapping[str, Kind] = {
    "str": _SAME,
    "str | None": _SAME,
    "int": _SAME,
    "datetime": _TIME,
    "datetime | None": _OPTIONAL_TIME,
    "JSONObject": _OBJECT,
    "JSONObject | None": _OPTIONAL_OBJECT,
}

#: a column that another tool may leave NULL (or empty) reads as the value of another field
#: (a row written without `updated_at` reads as never updated since it was created)
READ_FALLBACKS: Mapping[str, str] = {"updated_at": "created_at"}

#: one encoder for every stored document (json.dumps with options builds a new one per call)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _enum_kind(cls: type[Enum], optional: bool) -> Kind:
    # a dict lookup is what Enum(value) does in the end, at a fraction of its cost; unknown text still
    # raises the enum's own ValueError
    read = f"(by_value_{cls.__name__}.get({{v}}) or {cls.__name__}({{v}}))"
    if not optional:
        return Kind("{v}.value", read, "{v}.value")
    return Kind(
        "(None if {v} is None else {v}.value)",
        f"(None if {{v}} is None else {read})",
        "(None if {v} is None else {v}.value)",
    )


def kind_of(owner: type, field: attrs.Attribute[Any], namespace: Mapping[str, Any]) -> Kind:
    """The kind of a field from its declared type; a type without one is an error naming the fix."""
    declared = str(field.type)
    if declared in KINDS:
        return KINDS[declared]
    name = declared.removesuffix(" | None")
    cls = namespace.get(name)
    if isinstance(cls, type) and issubclass(cls, Enum):
        return _enum_kind(cls, optional=name != declared)
    raise TypeError(
        f"{owner.__name__}.{field.name} is declared {declared!r}, which no record kind stores: "
        f"add it to sparkq_adapters.records.KINDS (how it is stored in a column and shown in JSON)"
    )


E = TypeVar("E", bound=attrs.AttrsInstance)


class Record(Generic[E]):
    """The row and JSON mapping of an attrs entity whose fields are its table's columns."""

    __slots__ = ("columns", "from_row", "to_column", "to_dict", "to_row")

    def __init__(
        self,
        columns: tuple[str, ...],
        from_row: Callable[[Sequence[Any]], E],
        to_row: Callable[[E], tuple[Any, ...]],
        to_dict: Callable[[E], dict[str, Any]],
        to_column: Mapping[str, Callable[[Any], Any] | None],
    ) -> None:
        #: the columns, in the entity's field order
        self.columns = columns
        #: a row of those columns (as a query returns it) -> the entity
        self.from_row = from_row
        #: the entity -> the values of those columns, in order (for an insert)
        self.to_row = to_row
        #: the entity -> its JSON object (times as text, enums as their values)
        self.to_dict = to_dict
        #: field name -> how a new value of it is stored (None: as it is), for updates of some fields
        self.to_column = to_column


def record(cls: type[E], namespace: Mapping[str, Any]) -> Record[E]:
    """Build the record of the attrs class `cls`; `namespace` resolves the names its annotations use."""
    scope = _scope(cls, namespace)
    # the source is built from the entity's own field names and the fixed expressions of KINDS
    exec(compile(_source(cls, namespace), f"<record of {cls.__name__}>", "exec"), scope)
    columns = tuple(f.name for f in attrs.fields(cls))
    to_column = {name: scope.get(f"store_{name}") for name in columns}
    return Record(columns, scope["from_row"], scope["to_row"], scope["to_dict"], to_column)


def _source(cls: type, namespace: Mapping[str, Any]) -> str:
    """The record's functions as Python source, from the fields of `cls` and their kinds."""
    fields = attrs.fields(cls)
    kinds = {f.name: kind_of(cls, f, namespace) for f in fields}
    position = {f.name: n for n, f in enumerate(fields)}
    entity = cls.__name__

    def read(name: str) -> str:
        expression = kinds[name].from_column.format(v=f"row[{position[name]}]")
        fallback = READ_FALLBACKS.get(name)
        if fallback is None:
            return expression
        return f"({expression} if row[{position[name]}] else {read(fallback)})"

    # A new entity's times are one moment (created_at is updated_at): the text of the first time
    # field is reused for a later one that holds the very same datetime, so it is formatted once.
    times = [name for name, kind in kinds.items() if kind is _TIME]
    stored = {name: k.to_column.format(v=f"entity.{name}") for name, k in kinds.items()}
    prelude = []
    for name in times:
        first = times[0]
        reuse = f"{first} if entity.{name} is entity.{first} else " if name != first else ""
        prelude.append(f"    {name} = {reuse}{stored[name]}")
        stored[name] = name
    lines = [
        f'def from_row(row: "Sequence[Any]") -> "{entity}":',
        f"    return {entity}(" + ", ".join(f"{name}={read(name)}" for name in kinds) + ")",
        "",
        "",
        f'def to_row(entity: "{entity}") -> "tuple[Any, ...]":',
        *prelude,
        "    return (" + "".join(f"{value}, " for value in stored.values()) + ")",
        "",
        "",
        f'def to_dict(entity: "{entity}") -> "dict[str, Any]":',
        "    return {"
        + ", ".join(f"{name!r}: {k.to_json.format(v=f'entity.{name}')}" for name, k in kinds.items())
        + "}",
    ]
    for name, kind in kinds.items():
        if kind.to_column != "{v}":
            lines += ["", "", f'def store_{name}(v: "Any") -> "Any":', f"    return {kind.to_column.format(v='v')}"]
    return "\n".join(lines) + "\n"


def _enums(cls: type, namespace: Mapping[str, Any]) -> list[type[Enum]]:
    """The enums the fields of `cls` are declared with."""
    names = {str(f.type).removesuffix(" | None") for f in attrs.fields(cls)}
    return [v for k, v in namespace.items() if k in names and isinstance(v, type) and issubclass(v, Enum)]


def _scope(cls: type, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The names the record's functions use."""
    scope: dict[str, Any] = {
        cls.__name__: cls,
        "format_time": format_time,
        "format_optional": format_optional,
        "parse_time": parse_time,
        "parse_optional": parse_optional,
        "encode_json": _ENCODER.encode,
        "decode_json": json.loads,
    }
    for enum in _enums(cls, namespace):
        scope[enum.__name__] = enum
        scope[f"by_value_{enum.__name__}"] = {member.value: member for member in enum}
    return scope


#: the task record: the `tasks` table's columns and the task JSON object of SPEC §2, from `Task`
TASK = record(Task, vars(model))
