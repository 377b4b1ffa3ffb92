"""The task list's search text and tool filter, through every store: both find exactly the same tasks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from sparkq_domain import Store, Task, TaskQuery, TaskStatus
from sparkq_domain.model import claim_change, complete_change, fail_change, heartbeat_change
from sparkq_domain.review import matches_search

from .test_repository_contract import T0, World, store, task, world

__all__ = ["store", "world"]  # the fixtures this module takes from the contract suite


def _ids(tasks: Sequence[Task]) -> list[str]:
    return [t.id for t in tasks]


def _found(store: Store, **query: object) -> list[str]:
    """The ids a search finds, oldest first, after checking that the count agrees with the list."""
    q = TaskQuery(limit=None, newest_first=False, **query)  # type: ignore[arg-type]
    with store.read() as repo:
        found = _ids(repo.list_tasks(q))
        assert repo.count_tasks(q) == len(found)
    return found


@pytest.fixture
def history(store: Store, world: World) -> dict[str, Task]:
    """Tasks whose text sits in each searched field, and a few decoys that must not be found."""
    a, b = world.streams[0].id, world.streams[1].id
    at = [T0 + timedelta(seconds=n) for n in range(10)]
    made = {
        "summary": task(a, at[0], tool_name="run-python", payload={"script": "a.py"}),
        "error": task(a, at[1], payload={"script": "b.sh"}),
        "progress": task(b, at[2], tool_name="llm-haiku", payload={"prompt": "go"}),
        "payload": task(b, at[3], payload={"script": "scripts/Deploy-Prod.sh"}),
        "percent": task(a, at[4], payload={"note": "100% done_ok"}),
        "decoy": task(a, at[5], payload={"note": "1000 doneXok"}),
        "stdout_only": task(b, at[6], payload={"script": "c.sh"}),
        "unicode": task(a, at[7], payload={"note": "Émile"}),
    }
    with store.write() as repo:
        for t in made.values():
            repo.add_task(t)

        def run(t: Task, n: int) -> None:
            repo.apply(t.id, claim_change(at[n] + timedelta(minutes=1)))

        for n, key in enumerate(made):
            run(made[key], n)
        finish = at[9] + timedelta(minutes=2)
        repo.apply(made["summary"].id, complete_change({"summary": "Migrated the USERS table"}, finish))
        repo.apply(made["error"].id, fail_change("pytest: 3 tests FAIL in users_test.py", finish))
        repo.apply(made["progress"].id, heartbeat_change(finish, "halfway through the users"))
        repo.apply(
            made["stdout_only"].id,
            complete_change({"summary": "ok", "data": {"users": 1}}, finish, stdout="users everywhere"),
        )
        repo.apply(made["decoy"].id, fail_change("some other error", finish))
        return {key: t for key, t in ((k, repo.get_task(t.id)) for k, t in made.items()) if t is not None}


def test_search_finds_text_in_summary_error_progress_note_and_payload_ignoring_ascii_case(
    store: Store, history: dict[str, Task]
) -> None:
    # not stdout, nor result fields other than the summary
    expected = [history[k].id for k in ("summary", "error", "progress")]
    assert _found(store, search="users") == expected
    assert _found(store, search="USERS") == expected
    assert _found(store, search="deploy-prod") == [history["payload"].id]
    assert _found(store, search='"script":"scripts/') == [history["payload"].id]  # the payload's JSON text


def test_search_finds_a_task_by_its_id_or_part_of_it(store: Store, history: dict[str, Task]) -> None:
    target = history["decoy"]
    assert _found(store, search=target.id) == [target.id]
    assert _found(store, search=target.id.upper()) == [target.id]


def test_search_takes_percent_and_underscore_literally(store: Store, history: dict[str, Task]) -> None:
    assert _found(store, search="100% done_ok") == [history["percent"].id]
    assert _found(store, search="0%") == [history["percent"].id]
    assert _found(store, search="e_o") == [history["percent"].id]
    assert _found(store, search="%") == [history["percent"].id]
    assert _found(store, search="\\") == []


def test_search_folds_only_ascii_case_in_every_store(store: Store, history: dict[str, Task]) -> None:
    # SQLite's LIKE folds ASCII letters only: both stores keep to that rule, so they never disagree
    assert _found(store, search="Émile") == [history["unicode"].id]
    assert _found(store, search="émile") == []
    assert _found(store, search="éMILE") == []
    assert _found(store, search="ÉMILE") == [history["unicode"].id]


def test_search_of_nothing_there_finds_nothing(store: Store, history: dict[str, Task]) -> None:
    assert _found(store, search="no such text anywhere") == []


def test_tool_filter_takes_the_exact_name(store: Store, history: dict[str, Task]) -> None:
    assert _found(store, tool="run-python") == [history["summary"].id]
    assert _found(store, tool="llm-haiku") == [history["progress"].id]
    assert _found(store, tool="run-bash") == [
        history[k].id for k in ("error", "payload", "percent", "decoy", "stdout_only", "unicode")
    ]
    assert _found(store, tool="run") == []
    assert _found(store, tool="RUN-BASH") == []
    assert _found(store, tool="no-such-tool") == []


def test_search_and_tool_combine_with_stream_status_and_pages(
    store: Store, world: World, history: dict[str, Task]
) -> None:
    a, b = world.streams[0].id, world.streams[1].id
    assert _found(store, search="users", stream_id=a) == [history["summary"].id, history["error"].id]
    assert _found(store, search="users", stream_id=b) == [history["progress"].id]
    assert _found(store, search="users", status=TaskStatus.FAILED) == [history["error"].id]
    assert _found(store, search="users", status=TaskStatus.RUNNING) == [history["progress"].id]
    assert _found(store, search="users", tool="run-bash") == [history["error"].id]
    assert _found(store, tool="run-bash", stream_id=b) == [history["payload"].id, history["stdout_only"].id]
    assert _found(store, tool="run-bash", status=TaskStatus.SUCCEEDED) == [history["stdout_only"].id]
    with store.read() as repo:
        newest = TaskQuery(search="users", limit=1, offset=1)
        assert _ids(repo.list_tasks(newest)) == [history["error"].id]
        assert repo.count_tasks(newest) == 3


def test_search_combines_with_the_stale_filter(store: Store, history: dict[str, Task]) -> None:
    late = T0 + timedelta(days=1)
    assert _found(store, search="users", stale_at=late) == [history["progress"].id]
    assert _found(store, tool="llm-haiku", stale_at=late) == [history["progress"].id]
    assert _found(store, tool="run-python", stale_at=late) == []


def test_the_domain_rule_agrees_with_every_store(store: Store, history: dict[str, Task]) -> None:
    for text in ("users", "USERS", "%", "_", "Émile", "émile", "tsk_", '{"', "halfway"):
        expected = [t.id for t in history.values() if matches_search(t, text)]
        assert sorted(_found(store, search=text)) == sorted(expected), text


def test_search_finds_quotes_backslashes_and_newlines_in_a_summary_as_written(store: Store, world: World) -> None:
    # JSON stores them escaped (\" \\ \n): the search is for the text the worker wrote
    t = task(world.streams[0].id)
    summary = 'said "hi" from C:\\temp\nthen left'
    with store.write() as repo:
        repo.add_task(t)
        repo.apply(t.id, claim_change(T0))
        repo.apply(t.id, complete_change({"summary": summary}, T0 + timedelta(seconds=1)))
    for text in ('"hi"', "C:\\temp", "temp\nthen", "SAID"):
        assert _found(store, search=text) == [t.id], text
    assert _found(store, search='\\"hi') == []


def test_a_progress_note_is_searched_while_its_task_runs_only(store: Store, world: World) -> None:
    # once finished, a task is found by what came of it (summary, error), not by its last note
    t = task(world.streams[0].id)
    with store.write() as repo:
        repo.add_task(t)
        repo.apply(t.id, claim_change(T0))
        repo.apply(t.id, heartbeat_change(T0 + timedelta(seconds=1), "compiling stage two"))
    assert _found(store, search="stage two") == [t.id]
    with store.write() as repo:
        repo.apply(t.id, complete_change({"summary": "built"}, T0 + timedelta(seconds=2), stdout="x" * 200_000))
        assert repo.get_task(t.id).progress == "compiling stage two"  # type: ignore[union-attr]
    assert _found(store, search="stage two") == []
    assert _found(store, search="BUILT") == [t.id]
