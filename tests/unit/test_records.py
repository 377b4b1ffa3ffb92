"""Task records: one field list (the `Task` entity's) drives the SQLite row mapping and the task JSON."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import attrs
import pytest

from sparkq_adapters.records import TASK, record
from sparkq_adapters.serialization import task_to_dict
from sparkq_adapters.sqlite import SqliteStore
from sparkq_domain import FailureKind, Task, TaskClass, TaskStatus

JSONObject = dict[str, Any]
AT = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen(kw_only=True)
class Widget:
    """An entity with one field of every kind a record stores."""

    id: str
    size: int
    note: str | None = None
    made_at: datetime
    sold_at: datetime | None = None
    spec: JSONObject
    extra: JSONObject | None = None
    colour: Colour
    trim: Colour | None = None


def a_task(**kw: Any) -> Task:
    values: dict[str, Any] = {
        "id": "tsk_0123456789ab",
        "stream_id": "str_0123456789ab",
        "tool_name": "run-bash",
        "task_class": TaskClass.LLM_LITE,
        "payload": {"script": "x.sh", "n": [1, 2.5, None, "é"]},
        "status": TaskStatus.FAILED,
        "timeout": 300,
        "attempts": 2,
        "result": {"summary": "half"},
        "error": "broke",
        "stdout": "out",
        "stderr": None,
        "created_at": AT,
        "updated_at": AT.replace(second=10),
        "started_at": AT.replace(second=11),
        "finished_at": AT.replace(second=12),
        "requeued_from": "tsk_000000000001",
        "failure_kind": FailureKind.ERROR,
        "error_type": "TestFailure",
    }
    return Task(**{**values, **kw})


def test_the_task_records_columns_are_the_task_fields_and_every_one_is_a_column_of_the_table(tmp_path: Path) -> None:
    assert TASK.columns == tuple(f.name for f in attrs.fields(Task))
    store = SqliteStore(tmp_path / "sparkq.db")
    try:
        with store.read():
            table = {row[1] for row in store.connection().execute("PRAGMA table_info(tasks)")}
    finally:
        store.close()
    assert set(TASK.columns) <= table


def test_a_task_goes_to_a_row_and_back_unchanged_and_its_json_shows_times_and_enums_as_text() -> None:
    task = a_task()
    row = TASK.to_row(task)
    assert row[TASK.columns.index("payload")] == '{"script":"x.sh","n":[1,2.5,null,"é"]}'
    assert row[TASK.columns.index("failure_kind")] == "error"
    assert row[TASK.columns.index("created_at")] == "2026-05-06T07:08:09.123456Z"
    assert TASK.from_row(row) == task
    shown = task_to_dict(task)
    assert list(shown) == list(TASK.columns)
    assert shown["task_class"] == "LLM_LITE" and shown["status"] == "failed" and shown["failure_kind"] == "error"
    assert shown["finished_at"] == "2026-05-06T07:08:12.123456Z" and shown["payload"] is task.payload
    queued = a_task(status=TaskStatus.QUEUED, result=None, failure_kind=None, started_at=None, finished_at=None)
    assert TASK.from_row(TASK.to_row(queued)) == queued
    assert task_to_dict(queued)["failure_kind"] is None and task_to_dict(queued)["started_at"] is None


def test_a_row_without_updated_at_written_by_another_tool_reads_as_never_updated() -> None:
    row = list(TASK.to_row(a_task()))
    row[TASK.columns.index("updated_at")] = None
    assert TASK.from_row(row).updated_at == AT


def test_a_new_field_of_any_stored_kind_reaches_the_row_and_the_json_from_its_declaration_alone() -> None:
    widgets = record(Widget, globals())
    assert widgets.columns == tuple(f.name for f in attrs.fields(Widget))
    widget = Widget(id="w1", size=3, made_at=AT, spec={"a": [1]}, colour=Colour.RED, trim=Colour.BLUE)
    row = widgets.to_row(widget)
    assert row == ("w1", 3, None, "2026-05-06T07:08:09.123456Z", None, '{"a":[1]}', None, "red", "blue")
    assert widgets.from_row(row) == widget
    assert widgets.to_dict(widget) == {
        "id": "w1",
        "size": 3,
        "note": None,
        "made_at": "2026-05-06T07:08:09.123456Z",
        "sold_at": None,
        "spec": {"a": [1]},
        "extra": None,
        "colour": "red",
        "trim": "blue",
    }
    store_colour, store_size = widgets.to_column["colour"], widgets.to_column["size"]
    assert store_colour is not None and store_colour(Colour.BLUE) == "blue" and store_size is None


def test_an_unknown_enum_value_in_a_row_is_refused_by_the_enum() -> None:
    row = list(TASK.to_row(a_task()))
    row[TASK.columns.index("status")] = "paused"
    with pytest.raises(ValueError, match="'paused' is not a valid TaskStatus"):
        TASK.from_row(row)


def test_a_field_whose_type_no_kind_stores_is_refused_when_the_record_is_built_naming_the_fix() -> None:
    @attrs.frozen(kw_only=True)
    class Odd:
        id: str
        ratio: complex

    with pytest.raises(TypeError, match=r"Odd\.ratio is declared 'complex'.*add it to sparkq_adapters\.records\.KINDS"):
        record(Odd, {})


def test_the_api_documents_a_task_with_exactly_the_records_fields() -> None:
    from sparkq_adapters.http.contract import TaskOut, TaskRow

    assert tuple(f.name for f in attrs.fields(TaskOut)) == TASK.columns
    assert set(TASK.columns) <= {f.name for f in attrs.fields(TaskRow)}


def test_the_record_reads_the_rows_the_tasks_table_returns(tmp_path: Path) -> None:
    db = tmp_path / "sparkq.db"
    store = SqliteStore(db)
    with store.read():  # the schema, made by the store
        pass
    store.close()
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute(
            f"INSERT INTO tasks({', '.join(TASK.columns)}) VALUES ({', '.join('?' * len(TASK.columns))})",
            TASK.to_row(a_task()),
        )
        row = conn.execute(f"SELECT {', '.join(TASK.columns)} FROM tasks").fetchone()
    finally:
        conn.close()
    assert TASK.from_row(row) == a_task()


def test_the_record_of_another_entity_is_its_own() -> None:
    widgets = record(Widget, globals())
    assert widgets.from_row is not TASK.from_row
    widget = Widget(id="w1", size=3, made_at=AT, spec={}, colour=Colour.BLUE)
    assert widgets.from_row(widgets.to_row(widget)) == widget
