"""`/api/tasks`: queue, read and move tasks through their states."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from sparkq_domain import Claimed, InvalidInput, Queue, Task, TaskStatus, parse_age
from sparkq_domain.limits import MAX_JSON_INTEGER, quoted
from sparkq_domain.review import MAX_SEARCH_CHARS

from ..serialization import stream_ref, task_row_dict
from .answers import Answer
from .bodies import NoBody, TaskCancel, TaskComplete, TaskCreate, TaskFail, TaskHeartbeat, TasksRequeue
from .contract import TASK_STATUSES, OneTask, OneTaskView, RequeuedTasks, TaskPage, answers, reads, writes
from .streams import INLINE


def _one(queue: Queue, task: Task, status: int = HTTP_200_OK) -> Answer:
    return Answer({"task": task_row_dict(task, queue.now(), full=True)}, status)


def _with_stream(queue: Queue, claimed: Claimed) -> Answer:
    return Answer(
        {"task": {**task_row_dict(claimed.task, queue.now(), full=True), "stream": stream_ref(claimed.stream)}}
    )


#: the largest page of tasks one request returns
MAX_LIMIT = 1000


class TaskController(Controller):
    path = "/api/tasks"
    tags = ("tasks",)

    @get("/", sync_to_thread=INLINE, responses=answers(200, TaskPage, reads(400, 404, 422)))
    def list_tasks(
        self,
        queue: NamedDependency[Queue],
        stream_id: FromQuery[str | None] = None,
        status: str | None = Parameter(
            default=None, description="Only tasks in this status", schema_extra={"enum": TASK_STATUSES}
        ),
        stale: FromQuery[bool] = False,
        limit: int = Parameter(default=50, ge=1, le=MAX_LIMIT, description=f"Rows per page, 1 to {MAX_LIMIT}"),
        offset: int = Parameter(
            default=0, ge=0, le=MAX_JSON_INTEGER, description=f"Rows to skip, 0 to {MAX_JSON_INTEGER} (2^53 - 1)"
        ),
        order: str = Parameter(default="newest", pattern="^(newest|oldest)$"),
        full: FromQuery[bool] = False,
        q: str | None = Parameter(
            default=None,
            max_length=MAX_SEARCH_CHARS,
            description=(
                f"Only tasks with this text in their id, result summary, error, progress note or payload (its JSON); "
                f"ASCII letters in any case, % and _ literal; at most {MAX_SEARCH_CHARS} characters; empty: no filter"
            ),
        ),
        tool: str | None = Parameter(default=None, description="Only tasks of this tool (its exact name)"),
    ) -> Answer:
        """List tasks, newest first, a page at a time; rows leave out payload/result/stdout/stderr unless `full`."""
        page = queue.list_tasks(
            stream=stream_id,
            status=status,
            stale=stale,
            limit=limit,
            offset=offset,
            newest_first=order == "newest",
            tool=tool,
            search=q,
        )
        now = queue.now()
        return Answer(
            {
                "tasks": [task_row_dict(t, now, full=full) for t in page.tasks],
                "total": page.total,
                "limit": page.limit,
                "offset": page.offset,
            }
        )

    @post("/", sync_to_thread=INLINE, responses=answers(201, OneTask, writes(404, 409, 422)))
    def enqueue(self, queue: NamedDependency[Queue], data: JSONBody[TaskCreate]) -> Answer:
        """Queue a task at the back of a stream (stream by id or name)."""
        task = queue.enqueue(
            data.stream_id, data.tool_name, data.payload, timeout=data.timeout, task_class=data.task_class
        )
        return _one(queue, task, HTTP_201_CREATED)

    @get("/{task_id:str}", sync_to_thread=INLINE, responses=answers(200, OneTaskView, reads(404)))
    def get_task(self, queue: NamedDependency[Queue], task_id: FromPath[str]) -> Answer:
        """One task in full, with its stream's id, name and instructions."""
        return _with_stream(queue, queue.task_detail(task_id))

    @post(
        "/{task_id:str}/claim",
        sync_to_thread=INLINE,
        status_code=HTTP_200_OK,
        responses=answers(200, OneTaskView, writes(404, 409)),
    )
    def claim(
        self, queue: NamedDependency[Queue], task_id: FromPath[str], data: JSONBody[NoBody | None] = None
    ) -> Answer:
        """Claim this queued task (workers normally claim the next task of a stream instead)."""
        return _with_stream(queue, queue.claim_task(task_id))

    @post(
        "/{task_id:str}/complete",
        sync_to_thread=INLINE,
        status_code=HTTP_200_OK,
        responses=answers(200, OneTask, writes(404, 409, 422)),
    )
    def complete(self, queue: NamedDependency[Queue], task_id: FromPath[str], data: JSONBody[TaskComplete]) -> Answer:
        """Report success: `result` must carry a non-empty `summary` (or send `result_summary`)."""
        task = queue.complete(task_id, data.to_result(), stdout=data.stdout, stderr=data.stderr)
        return _one(queue, task)

    @post(
        "/{task_id:str}/fail",
        sync_to_thread=INLINE,
        status_code=HTTP_200_OK,
        responses=answers(200, OneTask, writes(404, 409, 422)),
    )
    def fail(self, queue: NamedDependency[Queue], task_id: FromPath[str], data: JSONBody[TaskFail]) -> Answer:
        """Report failure with an error message (and optional output)."""
        task = queue.fail(
            task_id, data.error_message, error_type=data.error_type, stdout=data.stdout, stderr=data.stderr
        )
        return _one(queue, task)

    @post(
        "/{task_id:str}/heartbeat",
        sync_to_thread=INLINE,
        status_code=HTTP_200_OK,
        responses=answers(200, OneTask, writes(404, 409, 422)),
    )
    def heartbeat(self, queue: NamedDependency[Queue], task_id: FromPath[str], data: JSONBody[TaskHeartbeat]) -> Answer:
        """Say the running task's worker is alive (`{}`), or with a progress note; 409 naming the status otherwise."""
        return _one(queue, queue.heartbeat(task_id, data.note))

    @post(
        "/{task_id:str}/cancel",
        sync_to_thread=INLINE,
        status_code=HTTP_200_OK,
        responses=answers(200, OneTask, writes(404, 409)),
    )
    def cancel(self, queue: NamedDependency[Queue], task_id: FromPath[str], data: JSONBody[TaskCancel]) -> Answer:
        """Cancel a queued task (`{}`, or with a reason): a terminal status; 409 naming the status otherwise."""
        return _one(queue, queue.cancel(task_id, data.reason))

    @post(
        "/requeue",
        sync_to_thread=True,
        status_code=HTTP_200_OK,
        responses=answers(200, RequeuedTasks, writes(404, 422)),
    )
    def requeue_failed(self, queue: NamedDependency[Queue], data: JSONBody[TasksRequeue]) -> Answer:
        """Requeue every failed task not requeued yet (of a stream, within an age), in FIFO order; each at most once.

        Failed tasks of ended streams are skipped and listed in `skipped`.
        """
        if data.status != TaskStatus.FAILED.value:
            raise InvalidInput(
                f"Cannot requeue tasks by status {quoted(data.status)}: only failed tasks are requeued in bulk "
                '(send "status": "failed"); requeue any other finished task by its id'
            )
        since = parse_age(data.since, "since") if data.since is not None else None
        done = queue.requeue_failed(data.stream_id, since, dry_run=data.dry_run)
        now = queue.now()
        return Answer(
            {
                "tasks": [task_row_dict(t, now, full=True) for t in done.copies],
                "originals": [t.id for t in done.originals],
                "skipped": [t.id for t in done.skipped],
                "dry_run": data.dry_run,
            }
        )

    @post("/{task_id:str}/requeue", sync_to_thread=True, responses=answers(201, OneTask, writes(404, 409)))
    def requeue(
        self, queue: NamedDependency[Queue], task_id: FromPath[str], data: JSONBody[NoBody | None] = None
    ) -> Answer:
        """Queue a fresh copy of a finished task; answers the new task."""
        return _one(queue, queue.requeue(task_id), HTTP_201_CREATED)
