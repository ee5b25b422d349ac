"""The typed results of a run and of `status`, shared by the CLI, notify and the FC handler.

A RunReport holds one CertOutcome per certificate, each with the TargetResult of
every target; statuses and actions are the Enums of kinds.py. to_dict() is the
versioned JSON document of jsondoc.py / docs/json.md (`run --json`, the generic
webhook, the FC answer); from_dict() reads that document back (notify gets it from
outside callers) and tolerates anything, since a report that cannot be read must
still be notified. status_rows() is what `status` and the
FC "status" action print. This module imports nothing heavy (no SDK, no cryptography):
the FC handler loads it on a cold start.
"""

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from acme_aliyun.kinds import GOOD_STATUSES, CertAction, CopyStatus, TargetStatus

if TYPE_CHECKING:
    from acme_aliyun.context import Context

Json = Dict[str, Any]


@dataclass
class TargetResult:
    kind: str                     # a name in targets.KINDS
    target: str                   # the spec's target string (domain, [region/]GroupId:domain)
    status: TargetStatus
    reason: str = ""
    deployed_not_after: Optional[datetime.datetime] = None
    error_code: Optional[str] = None
    request_id: Optional[str] = None

    def error_ref(self) -> str:
        """' [Code, request ID]' for a target the cloud refused, '' otherwise."""
        if not self.error_code:
            return ""
        return " [%s%s]" % (self.error_code, ", request %s" % self.request_id if self.request_id else "")

    @property
    def good(self) -> bool:
        return self.status in GOOD_STATUSES


@dataclass
class CertOutcome:
    name: str
    action: CertAction = CertAction.UNCHANGED
    reason: str = ""
    error: Optional[str] = None
    targets: List[TargetResult] = field(default_factory=list)
    next_renewal: Optional[datetime.datetime] = None
    not_after: Optional[datetime.datetime] = None
    serial: Optional[str] = None         # the stored certificate's serial (hex)
    copies: CopyStatus = CopyStatus.NONE     # KeyFile/ChainFile
    copy_error: Optional[str] = None
    reload_error: Optional[str] = None   # ReloadCommand failed (retried on the next run)
    issue_checked: bool = False          # the issuer was asked; False: deploy found a usable certificate
    deferred_until: Optional[datetime.datetime] = None   # no new order before then (backoff, CA rate limit)
    domains: List[str] = field(default_factory=list)     # the configured names
    challenge: Optional[str] = None      # http-01 | dns-01, set when a dry run would issue (PLANNED)

    @property
    def ok(self) -> bool:
        return (self.error is None and self.reload_error is None and self.copies != CopyStatus.FAILED
                and all(t.good for t in self.targets))

    def counts(self) -> Dict[str, int]:
        c = {str(s): 0 for s in (TargetStatus.DEPLOYED, TargetStatus.UNCHANGED, TargetStatus.REFUSED,
                                 TargetStatus.FAILED, TargetStatus.PLANNED)}
        for t in self.targets:
            c[str(t.status)] = c.get(str(t.status), 0) + 1
        return c


@dataclass
class RunReport:
    outcomes: List[CertOutcome]
    dry_run: bool = False
    error: Optional[str] = None       # the run could not report per certificate at all
    host: Optional[str] = None        # None: this machine
    command: Optional[str] = None     # "run" or "deploy"
    finished: Optional[datetime.datetime] = None     # when the run ended (timezone-aware)

    @classmethod
    def failure(cls, error: str) -> "RunReport":
        """The report of a run that stopped before any certificate (bad name, lock, deactivated account)."""
        return cls([], error=error)

    @property
    def ok(self) -> bool:
        return self.error is None and all(o.ok for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self, command: Optional[str] = None, domains: Optional[Dict[str, List[str]]] = None) -> Json:
        """The versioned JSON document (jsondoc.report, docs/json.md) of this report; command defaults
        to the report's own, else "run"."""
        from acme_aliyun import jsondoc
        return jsondoc.report(self, command or self.command or "run", domains)

    @classmethod
    def from_dict(cls, doc: Any) -> "RunReport":
        """The report in a to_dict()-shaped document; whatever does not fit is left out."""
        doc = doc if isinstance(doc, dict) else {}
        certs = doc.get("certificates")
        outcomes = [_outcome_from(c) for c in certs if isinstance(c, dict)] if isinstance(certs, list) else []
        error = _message(doc.get("error"))
        return cls(outcomes, dry_run=bool(doc.get("dry_run")), host=_text(doc.get("host")) or None, error=error,
                   command=_optional(doc.get("command")))


def when(value: Union[datetime.datetime, str, None]) -> str:
    """A time as tables print it, with its timezone: '2026-11-29 05:40 UTC'; '-' for none."""
    t = _time(value)
    if t is None:
        return "-"
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def issue_text(o: CertOutcome) -> str:
    """The ISSUE column of `run` and `deploy`: issued, renewed, not due, failed, deferred until T,
    pending, would issue; '-' where deploy found a usable certificate and did not ask the issuer."""
    if o.action == CertAction.UNCHANGED:
        return "not due" if o.issue_checked else "-"
    if o.action == CertAction.DEFERRED:
        return "deferred until " + when(o.deferred_until) if o.deferred_until else "deferred"
    if o.action == CertAction.PLANNED:
        return "would issue"
    return str(o.action)


def recorded_issue_text(entry: Json) -> str:
    """issue_text() of a certificate's entry in the last-run record (lastrun.py)."""
    return issue_text(CertOutcome("", action=_enum(CertAction, entry.get("action"), CertAction.FAILED),
                                  issue_checked=bool(entry.get("issue_checked")),
                                  deferred_until=_time(entry.get("deferred_until"))))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _optional(value: Any) -> Optional[str]:
    return None if value in (None, "") else str(value)


def _time(value: Any) -> Optional[datetime.datetime]:
    """A time read back from a document or record (a zone-less one is taken as UTC)."""
    from acme_aliyun.jsondoc import read_time
    return read_time(value)


def _message(value: Any) -> Optional[str]:
    """The text of an error object ({"message": ...}), or of an error given as plain text."""
    if isinstance(value, dict):
        value = value.get("message")
    return _optional(value)


def _error_field(value: Any, key: str) -> Optional[str]:
    return _optional(value.get(key)) if isinstance(value, dict) else None


def _enum(kind: Any, value: Any, unknown: Any) -> Any:
    try:
        return kind(value)
    except ValueError:
        return unknown


def _outcome_from(c: Json) -> CertOutcome:
    targets, domains = c.get("targets"), c.get("domains")
    return CertOutcome(
        _text(c.get("name")) or "?", action=_enum(CertAction, c.get("action"), CertAction.FAILED),
        reason=_text(c.get("reason")), error=_message(c.get("error")),
        targets=[_target_from(t) for t in targets if isinstance(t, dict)] if isinstance(targets, list) else [],
        next_renewal=_time(c.get("renew_at")), not_after=_time(c.get("not_after")),
        serial=_optional(c.get("serial")),
        copies=_enum(CopyStatus, c.get("copies") or "", CopyStatus.NONE), copy_error=_message(c.get("copy_error")),
        reload_error=_message(c.get("reload_error")), deferred_until=_time(c.get("deferred_until")),
        domains=[str(d) for d in domains] if isinstance(domains, list) else [],
        challenge=_optional(c.get("challenge")))


def _target_from(t: Json) -> TargetResult:
    return TargetResult(_text(t.get("kind")) or "?", _text(t.get("target")) or "?",
                        _enum(TargetStatus, t.get("status"), TargetStatus.FAILED), reason=_text(t.get("reason")),
                        deployed_not_after=_time(t.get("not_after")), error_code=_error_field(t.get("error"), "code"),
                        request_id=_error_field(t.get("error"), "request_id"))


# --- status ---------------------------------------------------------------------------------------

def status_rows(ctx: "Context") -> List[Json]:
    """One row per configured certificate: what is stored, when it renews and why; no request to the CA."""
    from acme_aliyun import lastrun
    now = datetime.datetime.now(datetime.timezone.utc)
    last = lastrun.read(ctx.store)
    rows = []
    for cert in ctx.certs():
        stored = ctx.store.load(cert.name)
        row: Json = {"name": cert.name, "domains": cert.domains, "stored": stored is not None}
        if stored is not None:
            row.update(_stored_row(ctx, cert, stored, now))
        row.update(_history_row(ctx, cert.name, stored, last.get(cert.name), now))
        rows.append(row)
    return rows


def _history_row(ctx: "Context", name: str, stored: Any, last: Optional[Json], now: datetime.datetime) -> Json:
    """What happened before: the last run's entry (lastrun.py), failed orders and their backoff, a
    CA limit's wait (deferred_until: no new order before then), the revocation `revoke` recorded."""
    attempts = ctx.store.read_attempts(name)
    waits = [_time(attempts.get("next_attempt")), _time((last or {}).get("deferred_until"))]
    ahead = [t for t in waits if t is not None and t > now]      # read_time gives aware times
    meta = stored.meta if stored is not None else {}
    return {"last_run": last, "failures": int(attempts.get("failures") or 0),
            "last_error": attempts.get("last_error"), "deferred_until": max(ahead).isoformat() if ahead else None,
            "revoked": meta.get("revoked"), "revoked_reason": meta.get("revoked_reason") if meta.get("revoked")
            else None}


def _stored_row(ctx: "Context", cert: Any, stored: Any, now: datetime.datetime) -> Json:
    from acme_aliyun import provenance, renewal
    b = stored.bundle
    d = renewal.decide(stored, cert, now=now, directory_url=ctx.cfg.acme.directory_url)
    window = renewal.ari_window(stored)
    return {
        "serial": b.serial, "issuer": b.issuer, "not_before": b.not_before.isoformat(),
        "not_after": b.not_after.isoformat(), "days_left": round((b.not_after - now).total_seconds() / 86400, 1),
        "renew_at": d.renew_at.isoformat() if d.renew_at else None, "due": d.due,
        "renew_source": d.source, "reason": d.reason, "path": ctx.store.cert_dir(cert.name),
        "ari_window": {"start": window["start"], "end": window["end"], "chosen": window["chosen"]}
        if window else None,
        "deploy_blocked": provenance.deploy_block(stored, ctx.cfg.acme) if cert.targets else None}


ReportLike = Union[RunReport, Json, None]
