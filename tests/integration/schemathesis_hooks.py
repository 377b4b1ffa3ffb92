"""Schemathesis hooks of test_api_contract (SCHEMATHESIS_HOOKS): a valid long-poll claim waits at most 1 s.

A claim's `?wait=` may be anything from 0 to 60 seconds, and a claim on a stream with no queued task
waits that long before its 204. Schemathesis sends such values (60 and 59 as bounds, 55.08 at random
with seed 1) to a stream an earlier case created: one request took 55 of the run's 90 s, to show
what a claim with a 1 s wait shows (the same handler, the same 204 once the time is up). So a valid
wait above 1 s is sent as 1 s; every invalid value (above 60, below 0, not a number) is sent as
generated. That 0 and 60 themselves are taken, test_http_strict shows.
"""

from __future__ import annotations

from typing import Any

import schemathesis

#: the longest valid wait sent, and the longest the API allows
SENT_WAIT = 1.0
MAX_WAIT = 60.0


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    query = case.query
    if isinstance(query, dict):
        wait = query.get("wait")
        if isinstance(wait, int | float) and not isinstance(wait, bool) and SENT_WAIT < wait <= MAX_WAIT:
            case.query = {**query, "wait": SENT_WAIT}
    return case
