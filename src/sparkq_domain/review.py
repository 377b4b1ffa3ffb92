"""What a developer reviewing tasks sees of each: the search rule, the list's note, escalations."""

from __future__ import annotations

import json
import string

from .model import Task, TaskStatus

#: the longest search text a task list takes (a search is a few words, not a document)
MAX_SEARCH_CHARS = 200
#: how a worker escalates (WORKER_PLAYBOOK.md): it fails the task with an error that starts so
QUESTION_PREFIX = "QUESTION:"

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_PAYLOAD_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def summary_of(task: Task) -> str | None:
    """The result's summary, if the task has one."""
    summary = task.result.get("summary") if task.result else None
    return summary if isinstance(summary, str) else None


def matches_search(task: Task, text: str) -> bool:
    """Say whether `text` is in the task's id, result summary, error, payload (compact JSON) or, while it
    runs, its progress note.

    A finished task is found by its summary or error, which say what came of it, not by the last note
    on the way (that also spares a store reading past a long stdout to reach the note). Case is ignored
    for ASCII letters only, as SQLite's LIKE does (without ICU it folds no other letters), so every
    store finds the same tasks; `%` and `_` are plain characters.
    """
    needle = text.translate(_ASCII_LOWER)
    progress = task.progress if task.status is TaskStatus.RUNNING else None
    fields = (task.id, summary_of(task), task.error, progress, _PAYLOAD_TEXT(task.payload))
    return any(f is not None and needle in f.translate(_ASCII_LOWER) for f in fields)


def list_note(task: Task) -> str | None:
    """The line a task list shows beside a task: the summary of a success, the error of a failure or
    cancel, the progress note of a running task."""
    if task.status is TaskStatus.SUCCEEDED:
        return summary_of(task)
    if task.status is TaskStatus.RUNNING:
        return task.progress
    if task.status.finished:
        return task.error
    return None


def is_question(task: Task) -> bool:
    """Say whether the task failed with a question for the developer (an escalation)."""
    return task.status is TaskStatus.FAILED and (task.error or "").startswith(QUESTION_PREFIX)
