"""The certificate verbs: issue (alias renew), status (alias certificates), revoke."""

import argparse
import datetime
import logging
from typing import TYPE_CHECKING, Any, Dict, List

from acme_aliyun.cli.common import context, out, out_json, say, wants_json
from acme_aliyun.errors import ToolError, UsageError
from acme_aliyun.kinds import CertAction, CopyStatus
from acme_aliyun.report import recorded_issue_text, when

if TYPE_CHECKING:
    from acme_aliyun.report import CertOutcome

log = logging.getLogger(__name__)
REASONS = {"unspecified": 0, "keyCompromise": 1, "superseded": 4, "cessationOfOperation": 5}


def cmd_issue(args: argparse.Namespace) -> int:
    from acme_aliyun.report import RunReport
    ctx = context(args)
    certs = ctx.certs(args.names)
    outcomes = []
    with ctx.store.lock(wait=True):
        client = ctx.acme()
        for cert in certs:
            o = _issue_one(ctx, client, cert, args)
            outcomes.append(o)
            if not wants_json(args):
                _print_issued(o)
        log.debug("ACME requests: %d", client.request_count)
    ctx.close()
    failed = sum(o.error is not None or o.action == CertAction.DEFERRED or o.copies == CopyStatus.FAILED
                 for o in outcomes)
    if wants_json(args):
        doc = RunReport(outcomes).to_dict("issue", {c.name: c.domains for c in certs})
        doc["ok"] = not failed
        out_json(doc)
    return 1 if failed else 0


def _issue_one(ctx: Any, client: Any, cert: Any, args: argparse.Namespace) -> "CertOutcome":
    """Issue one certificate when due, then its KeyFile/ChainFile copies; a CA or cloud failure is its outcome."""
    from acme_aliyun import copies, issuer
    from acme_aliyun.report import CertOutcome
    try:
        r = issuer.issue(cert, ctx.store, client, ctx.cloud, force=args.force, progress=ctx.progress,
                         timeout=ctx.cfg.acme.validation_timeout, ledger=None if args.force else ctx.ledger)
    except ToolError as e:
        if isinstance(e, UsageError):
            raise
        return CertOutcome(cert.name, CertAction.FAILED, error=str(e))
    copied = copies.sync(cert, r.stored)
    bundle = getattr(r.stored, "bundle", None)
    return CertOutcome(cert.name, r.action, r.reason, next_renewal=r.renew_at,
                       not_after=bundle.not_after if bundle is not None else None,
                       serial=bundle.serial if bundle is not None else None, copies=copied.status,
                       copy_error=copied.error if copied.status == CopyStatus.FAILED else None)


def _print_issued(o: "CertOutcome") -> None:
    """The text lines of one certificate's `issue` outcome."""
    if o.error is not None:
        out("%s: failed: %s" % (o.name, o.error))
        return
    from acme_aliyun.report import when
    out("%s: %s (%s); next renewal %s" % (o.name, o.action, o.reason, when(o.next_renewal)))
    if o.copies == CopyStatus.FAILED:
        out("%s: copy failed: %s" % (o.name, o.copy_error))


def cmd_status(args: argparse.Namespace) -> int:
    ctx = context(args, read_only=True)
    from acme_aliyun.report import status_rows
    rows = status_rows(ctx)
    targets = None
    if args.targets:
        from acme_aliyun import runner
        targets = runner.describe_all(ctx)
    code = 1 if targets and any(t["error"] or t["matches"] is False for t in targets) else 0
    if wants_json(args):
        from acme_aliyun import edgecheck, jsondoc
        if getattr(args, "probe", False):
            code = max(code, edgecheck.status(ctx, say(args)))
        out_json(jsondoc.status(rows, targets, ok=code == 0))
        return code
    _print_certificates(rows)
    if targets is not None:
        _print_targets(targets, rows)
    if getattr(args, "probe", False):
        from acme_aliyun import edgecheck
        return max(code, edgecheck.status(ctx, out))
    return code


def _print_certificates(rows: List[Dict[str, Any]]) -> None:
    """The certificate table of `status`: one row each, then what happened before, indented."""
    out("%-20s %-40s %-20s %6s  %s" % ("CERTIFICATE", "NAMES", "EXPIRES", "DAYS", "RENEWAL"))
    for r in rows:
        names = ",".join(r["domains"])
        names = names if len(names) <= 40 else names[:37] + "..."
        if not r["stored"]:
            out("%-20s %-40s %-20s %6s  %s" % (r["name"], names, "-", "-", "due now (no certificate yet)"))
        else:
            due = "due now" if r["due"] else "at " + when(r["renew_at"])
            out("%-20s %-40s %-20s %6.1f  %s (%s)" % (r["name"], names, when(r["not_after"]), r["days_left"], due,
                                                     r["renew_source"]))
            w = r["ari_window"]
            if w:
                out("%-20s ARI window %s to %s, chosen %s" % ("", when(w["start"]), when(w["end"]),
                                                              when(w["chosen"])))
        for line in _history(r):
            out("%-20s %s" % ("", line))
        if r.get("deploy_blocked"):
            out("  not deployed to cloud targets without --force: %s" % r["deploy_blocked"])


def _print_targets(targets: List[Dict[str, Any]], rows: List[Dict[str, Any]]) -> None:
    """The `status --targets` table: what each target serves now, and what the last run did to it."""
    last = {(r["name"], t.get("kind"), t.get("target")): t.get("status") for r in rows
            for t in (r.get("last_run") or {}).get("targets") or []}
    out("")
    out("%-20s %-10s %-40s %-20s %-9s %s" % ("CERTIFICATE", "KIND", "TARGET", "EXPIRES", "LAST RUN", "MATCHES LOCAL"))
    for t in targets:
        out("%-20s %-10s %-40s %-20s %-9s %s" % (t["certificate"], t["kind"], t["target"], when(t.get("not_after")),
                                                 last.get((t["certificate"], t["kind"], t["target"])) or "-",
                                                 t["state"]))


def _history(r: Dict[str, Any]) -> List[str]:
    """Revocation, the last run's result (failed targets with their cloud error code), the backoff."""
    lines = []
    if r.get("revoked"):
        lines.append("REVOKED %s (%s): the next run replaces it" % (when(r["revoked"]), r["revoked_reason"]))
    last = r.get("last_run")
    if last:
        c = last.get("counts") or {}
        lines.append("last %s %s: %s; targets: %s deployed, %s unchanged, %s refused, %s failed%s" % (
            last.get("command") or "run", when(last.get("at")), recorded_issue_text(last), c.get("deployed", 0),
            c.get("unchanged", 0), c.get("refused", 0), c.get("failed", 0),
            "; " + last["error"] if last.get("error") else ""))
        for t in last.get("targets") or []:
            if t.get("status") in ("failed", "refused"):
                ref = " [%s%s]" % (t["error_code"], ", request %s" % t["request_id"] if t.get("request_id") else "") \
                    if t.get("error_code") else ""
                lines.append("  %s %s %s%s: %s" % (t.get("kind"), t.get("target"), t.get("status"), ref,
                                                   t.get("reason")))
    if r.get("deferred_until"):
        lines.append("deferred until %s%s" % (when(r["deferred_until"]), " after %d failed order(s), the last: %s" % (
            r["failures"], r.get("last_error")) if r.get("failures") else " (CA rate limit)"))
    return lines


def cmd_revoke(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization

    from acme_aliyun.protocol import order as acme_order
    ctx = context(args)
    cert = ctx.certs([args.name])[0]
    stored = ctx.store.load(cert.name)
    if stored is None:
        raise UsageError("%s: no stored certificate to revoke" % cert.name)
    der = stored.bundle.cert.public_bytes(serialization.Encoding.DER)
    reason = REASONS[args.reason] if args.reason else None
    with ctx.store.lock(wait=True):
        if args.with_cert_key:
            from acme_aliyun import context as accounts
            client = accounts.make_client(ctx.cfg.acme, None)
            key = serialization.load_pem_private_key(stored.key_pem, None)
            acme_order.revoke(client, der, reason, cert_key=key)
        else:
            acme_order.revoke(ctx.acme(create_key=False), der, reason)
        ctx.store.update_meta(cert.name, revoked=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                              revoked_reason=args.reason or "unspecified")
    out("%s: certificate %s revoked (%s). It is no longer deployed; the next run replaces it%s." % (
        cert.name, stored.bundle.serial, args.reason or "unspecified",
        " with a new key" if args.reason == "keyCompromise" else ""))
    ctx.close()
    return 0


def register(sub: Any) -> None:
    s = sub.add_parser("issue", aliases=["renew"], help="issue or renew certificates that are due")
    s.add_argument("names", nargs="*", metavar="NAME", help="certificates to consider (default: all)")
    s.add_argument("--force", action="store_true", help="issue even when not due")
    s.add_argument("--staging", action="store_true",
                   help="rehearse with Let's Encrypt staging in <StateDir>-staging; no copies, no deploy")
    s.add_argument("--json", action="store_true", help="print the outcome as one JSON document (docs/json.md)")
    s.set_defaults(func=cmd_issue)

    s = sub.add_parser("status", aliases=["certificates"], help="certificates, expiry and renewal times")
    s.add_argument("--json", action="store_true", help="print the status as one JSON document (docs/json.md)")
    s.add_argument("--targets", action="store_true", help="also read what each cloud target serves")
    s.add_argument("--probe", action="store_true",
                   help="also open TLS to each target domain and show the serial the edge serves")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("revoke", help="revoke a stored certificate")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--reason", choices=sorted(REASONS), help="RFC 5280 reason (default: none sent)")
    s.add_argument("--with-cert-key", action="store_true",
                   help="sign with the certificate's own key instead of the account key")
    s.set_defaults(func=cmd_revoke)
