"""Session-wide findings under pytest-xdist: what each worker noted, gathered on the controller.

`make test` runs the suite in worker processes (pytest-xdist). Some findings live in a module's
globals and are read once at the session's end: the secrets audit's list of paths (printed in the
terminal summary) and the key guard's requests flagged outside any test (which fail the session).
Under xdist those globals fill in the workers, while the summary and the exit status belong to the
controller, which runs no test. So each worker hands its lists over in `workeroutput` (xdist's own
channel, sent when the worker finishes) and the controller adds them up as the workers go down.
Without xdist (or with -n 0) nothing is relayed and the local lists are the whole story.
"""

from typing import Any, Dict, List, Sequence

import pytest

_PREFIX = "relay:"
_received: Dict[str, List[tuple]] = {}


def is_worker(config: Any) -> bool:
    """True in an xdist worker process."""
    return hasattr(config, "workerinput")


def send(config: Any, key: str, items: Sequence[Sequence[Any]]) -> None:
    """In a worker: hand these rows (tuples of plain values) to the controller."""
    config.workeroutput[_PREFIX + key] = [list(row) for row in items]


def gathered(key: str, local: Sequence[Sequence[Any]] = ()) -> List[tuple]:
    """On the controller: the local rows, then every worker's, in the order the workers finished."""
    return [tuple(row) for row in local] + list(_received.get(_PREFIX + key, []))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: a worker went down; keep the rows it sent (none when it crashed)."""
    for key, rows in (getattr(node, "workeroutput", None) or {}).items():
        if key.startswith(_PREFIX) and isinstance(rows, list):
            _received.setdefault(key, []).extend(tuple(row) for row in rows)
