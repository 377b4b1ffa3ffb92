"""Error messages quote at most ~200 characters of what the caller sent (the domain's `quoted`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sparkq_domain import Queue, SparkQError
from sparkq_domain.limits import MAX_QUOTED_CHARS, quoted

HUGE = "z" * (1024 * 1024)


def test_quoted_keeps_short_text_as_its_repr_and_cuts_long_text_with_its_length() -> None:
    assert quoted("auth") == "'auth'"
    assert quoted("a" * MAX_QUOTED_CHARS) == repr("a" * MAX_QUOTED_CHARS)
    assert quoted(HUGE) == repr("z" * MAX_QUOTED_CHARS + "…") + " (1,048,576 characters)"
    assert (quoted(None), quoted(7), quoted(True)) == ("None", "7", "True")
    assert quoted(10**400) == "a int" and quoted(["x"] * 10**5) == "a list"


@pytest.mark.parametrize(
    "call",
    [
        lambda q: q.enqueue("st", HUGE, {}),
        lambda q: q.enqueue("st", "run-bash", {}, task_class=HUGE),
        lambda q: q.enqueue(HUGE, "run-bash", {}),
        lambda q: q.create_session(HUGE),
        lambda q: q.create_stream("st2", HUGE),
        lambda q: q.task_detail(HUGE),
        lambda q: q.list_sessions(HUGE),
        lambda q: q.list_tasks(status=HUGE),
    ],
    ids=["tool", "task class", "stream", "session name", "session ref", "task id", "status", "task status"],
)
def test_no_error_message_echoes_a_megabyte_of_input(queue: Queue, call: Callable[[Queue], Any]) -> None:
    with pytest.raises(SparkQError) as refused:
        call(queue)
    assert "z" * MAX_QUOTED_CHARS + "…' (1,048,576 characters)" in refused.value.message
    assert len(refused.value.message) < 500
