"""Editing a stream's instructions and a session's description (SPEC §11), on the in-memory store."""

from __future__ import annotations

import pytest

from sparkq_domain import Queue, StreamEnded, TaskStatus


def test_the_next_claim_carries_the_edited_instructions_and_a_running_task_keeps_its_claim(queue: Queue) -> None:
    first = queue.enqueue("st", "run-bash", {"n": 1})
    second = queue.enqueue("st", "run-bash", {"n": 2})
    claimed = queue.claim("st")
    assert claimed is not None and claimed.task.id == first.id and claimed.stream.instructions is None

    edited = queue.instruct_stream("st", "Answer: use OAuth.\nDone when tests pass.")
    assert edited.instructions == "Answer: use OAuth.\nDone when tests pass."
    assert queue.get_stream("st").instructions == edited.instructions
    after = queue.claim("st")
    assert after is not None and after.task.id == second.id
    assert after.stream.instructions == "Answer: use OAuth.\nDone when tests pass."
    assert queue.get_task(first.id).status is TaskStatus.RUNNING  # an edit changes no task

    # by id as well as by name; None clears them
    assert queue.instruct_stream(edited.id, None).instructions is None


def test_editing_an_ended_stream_is_refused_and_changes_nothing(queue: Queue) -> None:
    queue.instruct_stream("st", "Old plan")
    ended = queue.end_stream("st")
    for ref in ("st", ended.id):
        with pytest.raises(StreamEnded, match=r"^Stream 'st' has ended .*no worker will claim from it again"):
            queue.instruct_stream(ref, "New plan")
    assert queue.get_stream("st") == ended
    assert ended.instructions == "Old plan"


def test_a_session_description_can_be_changed_ended_or_not(queue: Queue) -> None:
    assert queue.describe_session("s", "Version 2 of the API").description == "Version 2 of the API"
    ended = queue.end_session("s")
    noted = queue.describe_session(ended.id, "Shipped in 2.1")
    assert (noted.description, noted.status, noted.ended_at) == ("Shipped in 2.1", ended.status, ended.ended_at)
    assert queue.get_session("s").description == "Shipped in 2.1"
