"""Queue.list_tasks's search text and tool filter: the rules the library, the CLI and the API share."""

from __future__ import annotations

import pytest

from sparkq_domain import InvalidInput, Queue, TaskStatus
from sparkq_domain.review import MAX_SEARCH_CHARS, is_question, list_note


def _ids(queue: Queue, **kwargs: object) -> list[str]:
    return [t.id for t in queue.list_tasks(newest_first=False, **kwargs).tasks]  # type: ignore[arg-type]


@pytest.fixture
def done(queue: Queue) -> dict[str, str]:
    """A succeeded, a failed (an escalation), a running with a progress note, and a queued task."""
    ids = {
        "ok": queue.enqueue("st", "run-python", {"script": "migrate.py"}).id,
        "question": queue.enqueue("st", "run-bash", {"script": "deploy.sh"}).id,
        "note": queue.enqueue("st", "llm-haiku", {"prompt": "review the migration"}).id,
        "queued": queue.enqueue("st", "run-bash", {"script": "later.sh"}).id,
    }
    for _ in range(3):
        queue.claim("st")
    queue.complete(ids["ok"], {"summary": "Migrated 12 tables"})
    queue.fail(ids["question"], "QUESTION: which region do I deploy to?")
    queue.heartbeat(ids["note"], "read 3 of 12 tables")
    return ids


def test_search_finds_summary_error_progress_and_payload(queue: Queue, done: dict[str, str]) -> None:
    assert _ids(queue, search="12 TABLES") == [done["ok"], done["note"]]
    assert _ids(queue, search="question:") == [done["question"]]
    assert _ids(queue, search="migrat") == [done["ok"], done["note"]]
    assert _ids(queue, search="later.sh") == [done["queued"]]
    assert queue.list_tasks(search="tables").total == 2


def test_tool_filter_and_search_combine_with_status(queue: Queue, done: dict[str, str]) -> None:
    assert _ids(queue, tool="run-bash") == [done["question"], done["queued"]]
    assert _ids(queue, tool="run-bash", status=TaskStatus.QUEUED) == [done["queued"]]
    assert _ids(queue, tool="run-bash", search="region") == [done["question"]]
    assert _ids(queue, tool="run-python", search="region") == []


def test_a_tool_not_in_the_registry_lists_nothing_rather_than_failing(queue: Queue, done: dict[str, str]) -> None:
    # a tool removed from sparkq.yml still has its tasks in history: the filter reads the tasks, not the registry
    assert _ids(queue, tool="no-such-tool") == []


def test_an_empty_search_or_tool_filters_nothing(queue: Queue, done: dict[str, str]) -> None:
    every = _ids(queue)
    assert len(every) == 4
    assert _ids(queue, search="") == every
    assert _ids(queue, tool="") == every


def test_a_search_longer_than_the_limit_is_refused_naming_the_limit(queue: Queue, done: dict[str, str]) -> None:
    assert _ids(queue, search="x" * MAX_SEARCH_CHARS) == []
    with pytest.raises(InvalidInput, match=f"{MAX_SEARCH_CHARS + 1} characters: at most {MAX_SEARCH_CHARS}"):
        queue.list_tasks(search="x" * (MAX_SEARCH_CHARS + 1))


def test_the_total_counts_every_match_whether_or_not_the_page_ends_the_list(queue: Queue, done: dict[str, str]) -> None:
    # (a page that ends the list gives the total without a second read; the others count)
    for kwargs, total in (
        ({"limit": 2}, 4),
        ({"limit": 2, "offset": 2}, 4),
        ({"limit": 3, "offset": 2}, 4),
        ({"limit": 50}, 4),
        ({"limit": None, "offset": 1}, 4),
        ({"limit": 5, "offset": 9}, 4),
        ({"limit": 1, "tool": "run-bash"}, 2),
        ({"limit": 5, "offset": 1, "tool": "run-bash"}, 2),
        ({"limit": 5, "offset": 7, "search": "tables"}, 2),
        ({"limit": 5, "search": "nothing"}, 0),
    ):
        page = queue.list_tasks(**kwargs)  # type: ignore[arg-type]
        assert page.total == total, kwargs


def test_the_list_note_is_the_summary_the_error_or_a_running_tasks_progress_note(
    queue: Queue, done: dict[str, str]
) -> None:
    notes = {key: list_note(queue.get_task(task_id)) for key, task_id in done.items()}
    assert notes == {
        "ok": "Migrated 12 tables",
        "question": "QUESTION: which region do I deploy to?",
        "note": "read 3 of 12 tables",
        "queued": None,
    }
    cancelled = queue.cancel(done["queued"], "not needed")
    assert list_note(cancelled) == "not needed"


def test_only_a_failure_whose_error_starts_with_question_is_a_question(queue: Queue, done: dict[str, str]) -> None:
    assert [key for key, task_id in done.items() if is_question(queue.get_task(task_id))] == ["question"]
    asks = queue.enqueue("st", "run-bash", {}).id
    assert not is_question(queue.cancel(asks, "QUESTION: is this needed?"))  # a cancel reason is no escalation
    late = queue.enqueue("st", "run-bash", {}).id
    queue.claim_task(late)
    assert not is_question(queue.fail(late, "It fails. QUESTION: why?"))  # only at the start, as the playbook says


def test_a_search_holding_a_nul_character_is_refused(queue: Queue, done: dict[str, str]) -> None:
    # SQLite's LIKE stops reading its pattern at a NUL: "abc\x00zzz" would find every text ending in "abc"
    with pytest.raises(InvalidInput, match="NUL character"):
        queue.list_tasks(search="tables\x00nothing")
