"""The --json documents: one envelope, one shape per object, RFC 3339 times (docs/json.md).

Why a module of its own: each command used to print its own dict (run the report's
to_dict(), status its rows, the FC handler a third shape), so a script met a
certificate in three shapes and times with and without an offset. Here is the one
place that turns the typed objects (report.RunReport / CertOutcome / TargetResult,
the status rows, cloud-check probes, an ACME account, the directory) into the shapes
docs/json.md documents; tests/test_json_docs.py validates every command's real
output against the JSON Schema embedded there. Change a shape here and there, and
raise SCHEMA when a reader would notice.

Every document: {"schema", "command", "generated_at", "host", "ok", "error"} plus the
command's own keys; a command that fails before it has anything to report gives just
that envelope with an error object. Every time is UTC with a "Z" (2026-11-29T05:40:00Z);
a naive datetime is a bug and raises. Standard library and kinds.py only: the FC handler imports it
on a cold start.
"""

import datetime
import json
import socket
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Sequence

from acme_aliyun.kinds import BAD_STATUSES, CertAction, TargetStatus

if TYPE_CHECKING:
    from acme_aliyun.report import CertOutcome, RunReport, TargetResult

Json = Dict[str, Any]
SCHEMA = 1
COMMANDS = ("status", "run", "deploy", "issue", "cloud check", "account show", "directory")
_BAD_TARGET = tuple(str(s) for s in BAD_STATUSES)


# --- scalars -------------------------------------------------------------------------------

def rfc3339(value: Optional[datetime.datetime]) -> Optional[str]:
    """'2026-11-29T05:40:00Z' (UTC, whole seconds); None stays None. A naive time raises ValueError."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime %s: every time in a JSON document needs its timezone" % value)
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> Optional[datetime.datetime]:
    """An aware datetime from an ISO 8601 / RFC 3339 text ('Z' accepted); None when absent or unreadable."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else None
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def read_time(value: Any) -> Optional[datetime.datetime]:
    """A time read from a record or a document: ISO 8601 / RFC 3339 ('Z' too); one without a zone
    (older records) is taken as UTC; None when absent or unreadable."""
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    if isinstance(value, str) and value and parse_time(value) is None:
        return parse_time(value + "+00:00")
    return parse_time(value)


def _time_text(value: Any) -> Optional[str]:
    """A stored ISO time (status rows and records keep isoformat() text) as RFC 3339."""
    return rfc3339(read_time(value))


def error(message: Any, code: Optional[str] = None, request_id: Optional[str] = None) -> Optional[Json]:
    """The error object; None when there is no message."""
    if message is None or message == "":
        return None
    return {"message": str(message), "code": code or None, "request_id": request_id or None}


# --- envelope ------------------------------------------------------------------------------

def envelope(command: Optional[str], ok: bool, err: Optional[Json] = None, host: Optional[str] = None,
             now: Optional[datetime.datetime] = None) -> Json:
    """The keys every document starts with."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {"schema": SCHEMA, "command": command, "generated_at": rfc3339(now),
            "host": host or socket.gethostname(), "ok": bool(ok), "error": err}


def failure(command: Optional[str], message: str, host: Optional[str] = None) -> Json:
    """The document of a command that stopped before it had anything to report."""
    return envelope(command, False, error(message) or error("failed"), host=host)


def dumps(doc: Json) -> str:
    """The document as printed: indented, keys sorted, non-ASCII kept."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)


# --- objects -------------------------------------------------------------------------------

CERT_KEYS = ("name", "domains", "serial", "issuer", "not_before", "not_after", "days_left", "path", "renew_at",
             "due", "renew_source", "renew_reason", "ari_window", "deploy_blocked", "revoked", "action", "reason",
             "challenge", "error", "deferred_until", "failures", "last_error", "copies", "copy_error", "reload_error",
             "counts", "targets", "last_run")
ACTIONS = tuple(str(a) for a in CertAction)
TARGET_STATUSES = tuple(str(s) for s in TargetStatus)


def certificate(name: str, **fields: Any) -> Json:
    """The certificate object: every key present, null where the command does not know it."""
    unknown = set(fields) - set(CERT_KEYS)
    if unknown:
        raise TypeError("not certificate keys: %s" % ", ".join(sorted(unknown)))
    doc: Json = dict.fromkeys(CERT_KEYS)
    doc.update(fields, name=name)
    return doc


def target(certificate_name: str, kind: str, name: str, status: Optional[str] = None, reason: Optional[str] = None,
           not_after: Optional[datetime.datetime] = None, cert_name: Optional[str] = None,
           matches: Optional[bool] = None, err: Optional[Json] = None) -> Json:
    """The target object (one cloud target of one certificate), from a run or from `status --targets`."""
    return {"certificate": certificate_name, "kind": kind, "target": name, "status": status,
            "reason": reason or None, "not_after": rfc3339(not_after), "cert_name": cert_name, "matches": matches,
            "error": err}


def run_target(cert_name: str, t: "TargetResult") -> Json:
    """A TargetResult of run/deploy/issue; failed and refused targets carry an error object."""
    err = error(t.reason or str(t.status), t.error_code, t.request_id) if str(t.status) in _BAD_TARGET else None
    return target(cert_name, t.kind, t.target, str(t.status), t.reason, t.deployed_not_after, err=err)


def outcome(o: "CertOutcome", domains: Optional[Sequence[str]] = None) -> Json:
    """A CertOutcome of run/deploy/issue as a certificate object."""
    names = list(domains) if domains is not None else list(o.domains) or None
    return certificate(
        o.name, domains=names, serial=o.serial, not_after=rfc3339(o.not_after), renew_at=rfc3339(o.next_renewal),
        action=str(o.action), reason=o.reason or None, challenge=o.challenge,
        error=error(o.error), deferred_until=rfc3339(o.deferred_until),
        copies=str(o.copies) or "none", copy_error=error(o.copy_error), reload_error=error(o.reload_error),
        counts=o.counts(), targets=[run_target(o.name, t) for t in o.targets])


def status_certificate(row: Mapping[str, Any], targets: Optional[List[Json]] = None) -> Json:
    """A report.status_rows() row (plus its targets when read) as a certificate object."""
    w = row.get("ari_window")
    window = {k: _time_text(w.get(k)) for k in ("start", "end", "chosen")} if w else None
    return certificate(
        row["name"], domains=list(row["domains"]), serial=row.get("serial"), issuer=row.get("issuer"),
        not_before=_time_text(row.get("not_before")), not_after=_time_text(row.get("not_after")),
        days_left=row.get("days_left"), path=row.get("path"), renew_at=_time_text(row.get("renew_at")),
        due=row.get("due", True), renew_source=row.get("renew_source"), renew_reason=row.get("reason"),
        ari_window=window, deploy_blocked=row.get("deploy_blocked") or None, targets=targets,
        revoked={"at": _time_text(row["revoked"]), "reason": row.get("revoked_reason") or "unspecified"}
        if row.get("revoked") else None,
        deferred_until=_time_text(row.get("deferred_until")),
        failures=row.get("failures"), last_error=error(row.get("last_error")),
        last_run=last_run(row["name"], row["last_run"]) if row.get("last_run") else None)


def last_run(cert_name: str, entry: Mapping[str, Any]) -> Json:
    """The last-run record's entry for a certificate (lastrun.py, what `status` reads) as a last-run object."""
    recorded = entry.get("counts")
    counts: Mapping[str, Any] = recorded if isinstance(recorded, dict) else {}
    targets = [t for t in entry.get("targets") or [] if isinstance(t, dict)]
    return {"at": _time_text(entry.get("at")), "command": "deploy" if entry.get("command") == "deploy" else "run",
            "action": _word(entry.get("action"), ACTIONS), "ok": bool(entry.get("ok")),
            "error": error(entry.get("error")), "deferred_until": _time_text(entry.get("deferred_until")),
            "counts": {k: int(counts.get(k) or 0) for k in TARGET_STATUSES},
            "targets": [_recorded_target(cert_name, t) for t in targets]}


def _recorded_target(cert_name: str, t: Mapping[str, Any]) -> Json:
    status = _word(t.get("status"), TARGET_STATUSES)
    err = error(t.get("reason") or status, t.get("error_code"), t.get("request_id")) if status in _BAD_TARGET \
        else None
    return target(cert_name, str(t.get("kind") or "?"), str(t.get("target") or "?"), status, t.get("reason"),
                  err=err)


def _word(value: Any, words: Sequence[str]) -> str:
    """A recorded status word; one this version does not know reads as failed."""
    return value if value in words else "failed"


def described_target(row: Mapping[str, Any]) -> Json:
    """A runner.describe_all() row (what the cloud serves) as a target object."""
    state = row.get("state")
    err = error(row["error"]) if "error" in row else error(state) if state not in ("yes", "no", "-", None) else None
    return target(row["certificate"], row["kind"], row["target"], not_after=read_time(row.get("not_after")),
                  cert_name=row.get("cert_name"), matches=row.get("matches"), err=err)


# --- documents -----------------------------------------------------------------------------

def report(rep: "RunReport", command: str = "run", domains: Optional[Mapping[str, Sequence[str]]] = None) -> Json:
    """The document of run, deploy or issue (and the FC answer to those actions)."""
    if rep.error is not None and not rep.outcomes:
        return failure(command, rep.error, host=rep.host)
    doc = envelope(command, rep.ok, error(rep.error), host=rep.host)
    domains = domains or {}
    doc.update(dry_run=rep.dry_run, certificates=[outcome(o, domains.get(o.name)) for o in rep.outcomes],
               pending=[o.name for o in rep.outcomes if str(o.action) == "pending"])
    return doc


def status(rows: Iterable[Mapping[str, Any]], described: Optional[Iterable[Mapping[str, Any]]] = None,
           ok: bool = True) -> Json:
    """The document of `status` (targets: null unless --targets read them)."""
    by_cert: Dict[str, List[Json]] = {}
    for t in described or ():
        by_cert.setdefault(t["certificate"], []).append(described_target(t))
    doc = envelope("status", ok)
    doc["certificates"] = [status_certificate(r, None if described is None else by_cert.get(r["name"], []))
                           for r in rows]
    return doc


def probe(p: Any) -> Json:
    """A cloud-check probe (targets.base.Probe)."""
    return {"kind": p.kind, "target": p.target, "ok": bool(p.ok), "detail": p.detail}


def cloud_check(groups: Iterable[Any]) -> Json:
    """`cloud check`: groups are (profile or None, deployer.CheckReport)."""
    profiles = [{"profile": name, "credentials": rep.source, "ok": rep.ok, "probes": [probe(p) for p in rep.probes]}
                for name, rep in groups]
    doc = envelope("cloud check", all(p["ok"] for p in profiles))
    doc["profiles"] = profiles
    return doc


def account(a: Any) -> Json:
    """`account show`: the ACME account (protocol.messages.Account); other fields the CA sends are left out."""
    orders = a.data.get("orders")
    doc = envelope("account show", True)
    doc["account"] = {"url": a.url, "status": a.status, "contact": list(a.contact),
                      "orders": orders if isinstance(orders, str) else None,
                      "created_at": rfc3339(parse_time(a.data.get("createdAt")))}
    return doc


def directory(url: str, endpoints: Mapping[str, str], other_keys: Mapping[str, Any], meta: Mapping[str, Any]) -> Json:
    """`directory`: the CA's endpoints, its other keys and its meta object as sent."""
    doc = envelope("directory", True)
    doc["directory"] = {"url": url, "endpoints": dict(endpoints), "other_keys": dict(other_keys), "meta": dict(meta)}
    return doc
