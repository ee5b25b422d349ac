"""The last-run record: what the last `run` or `deploy` did to each certificate and target.

`status` must say when each certificate was last worked on, with what result, which targets
failed and with which cloud error code (issue 14, point 13), without asking the CA or the cloud.
So every run and deploy that writes (not a dry run) merges one entry per certificate it
considered into <StateDir>/last-run.json, under the state lock, through the Store (so an
oss:// StateDir gets it too, pushed with the rest). A certificate the run did not reach (left
`pending` by the time budget, or not named) keeps its earlier entry. The record is a report,
not state: an unreadable one reads as empty and never stops a run.

Entry shape (times are RFC 3339 with their offset)::

    {"at": ..., "command": "run"|"deploy", "action": "renewed", "ok": true, "error": null,
     "deferred_until": null, "counts": {"deployed": 1, ...},
     "targets": [{"kind", "target", "status", "reason", "error_code", "request_id"}, ...]}
"""

import datetime
import logging
from typing import TYPE_CHECKING, Any, Dict, Optional

from acme_aliyun.errors import ToolError
from acme_aliyun.kinds import CertAction

if TYPE_CHECKING:
    from acme_aliyun.report import CertOutcome, RunReport
    from acme_aliyun.store import Store

log = logging.getLogger(__name__)
VERSION = 1
Json = Dict[str, Any]


def _iso(value: Optional[datetime.datetime]) -> Optional[str]:
    return value.isoformat() if value else None


def entry(outcome: "CertOutcome", at: datetime.datetime, command: str) -> Json:
    """The record of one certificate's part in a run that ended at `at`."""
    return {"at": at.isoformat(), "command": command, "action": str(outcome.action), "ok": outcome.ok,
            "issue_checked": outcome.issue_checked, "error": outcome.error,
            "deferred_until": _iso(outcome.deferred_until), "counts": outcome.counts(),
            "targets": [{"kind": t.kind, "target": t.target, "status": str(t.status), "reason": t.reason,
                         "error_code": t.error_code, "request_id": t.request_id} for t in outcome.targets]}


def record(store: "Store", report: "RunReport") -> None:
    """Merge the report's certificates into the record; the caller holds the lock. Never raises a
    ToolError: a record that cannot be written is a warning, the run's work stands."""
    at = report.finished or datetime.datetime.now(datetime.timezone.utc)
    try:
        certs = dict(read(store))
        for o in report.outcomes:
            if o.action != CertAction.PENDING:
                certs[o.name] = entry(o, at, report.command or "run")
        store.write_last_run({"version": VERSION, "certificates": certs})
    except ToolError as e:
        log.warning("could not record the last run: %s", e)


def read(store: "Store") -> Dict[str, Json]:
    """{certificate name: its entry} from the record; {} when there is none."""
    certs = store.read_last_run().get("certificates")
    if not isinstance(certs, dict):
        return {}
    return {name: e for name, e in certs.items() if isinstance(e, dict)}

