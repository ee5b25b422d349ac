"""The main job: for each certificate, issue or renew when due, then deploy where it differs.

Used by `run`, `deploy` and the Function Compute handler. Holds the state lock
for the whole run, so two runs never order the same certificate twice. Returns
a RunReport; formatting is the caller's business.
"""

import datetime
import itertools
import logging
import socket
from dataclasses import asdict, dataclass, field
from typing import List, Optional

from acme_aliyun import provenance
from acme_aliyun.errors import ToolError
from acme_aliyun.log import redact

log = logging.getLogger(__name__)


@dataclass
class CertOutcome:
    name: str
    action: str = "unchanged"        # issued | renewed | unchanged | deferred | failed | pending
    reason: str = ""
    error: Optional[str] = None
    targets: list = field(default_factory=list)      # deployer.TargetResult
    next_renewal: Optional[datetime.datetime] = None
    not_after: Optional[datetime.datetime] = None
    copies: str = ""                 # KeyFile/ChainFile: "" (none) | ok | written | failed
    copy_error: Optional[str] = None
    reload_error: Optional[str] = None   # ReloadCommand failed (retried on the next run)

    @property
    def ok(self):
        return self.error is None and self.reload_error is None and self.copies != "failed" and all(t.status in ("deployed", "unchanged", "planned") for t in self.targets)

    def counts(self):
        c = {"deployed": 0, "unchanged": 0, "refused": 0, "failed": 0, "planned": 0}
        for t in self.targets:
            c[t.status] = c.get(t.status, 0) + 1
        return c


@dataclass
class RunReport:
    outcomes: List[CertOutcome]
    dry_run: bool = False

    @property
    def ok(self):
        return all(o.ok for o in self.outcomes)

    @property
    def exit_code(self):
        return 0 if self.ok else 1

    def to_dict(self):
        def conv(v):
            if isinstance(v, datetime.datetime):
                return v.isoformat()
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, list):
                return [conv(x) for x in v]
            return v
        certs = []
        for o in self.outcomes:
            d = {"name": o.name, "action": o.action, "reason": o.reason, "error": o.error,
                 "next_renewal": o.next_renewal, "not_after": o.not_after, "counts": o.counts(),
                 "copies": o.copies, "copy_error": o.copy_error, "reload_error": o.reload_error,
                 "targets": [asdict(t) for t in o.targets]}
            certs.append(conv(d))
        return {"ok": self.ok, "dry_run": self.dry_run, "host": socket.gethostname(), "certificates": certs}


def run(ctx, names=None, wait=True, lock_timeout=None, force_issue=False, force_deploy=False,
        dry_run=False, issue_when="due", deploy=True, budget=None):
    """issue_when: 'due' (run), 'missing' (deploy: only when no valid local certificate).

    Certificates run side by side ([acme] Parallel); budget: seconds for starting them
    (default [acme] RunBudget, none); what it leaves out is 'pending' (acme_aliyun/parallel.py)."""
    from acme_aliyun import issuer, parallel
    certs = ctx.certs(names)
    acme = ctx.cfg.acme
    budget = parallel.Budget(budget if budget is not None else getattr(acme, "run_budget", None))
    try:
        with ctx.store.lock(wait=wait, timeout=lock_timeout, on_wait=lambda m, t: ctx.progress(m, limit=t)):
            state = ctx.store.state_dir
            held = parallel.pending_names(state)
            order = parallel.start_order(certs, held, lambda c: _expiry(issuer.current(ctx.store, c)))
            outcomes = parallel.run_all(
                certs, lambda c: _isolated(ctx, c, force_issue, force_deploy, dry_run, issue_when, deploy),
                lambda c, why: CertOutcome(c.name, "pending", why), getattr(acme, "parallel", 1), budget, order)
            left = [o.name for o in outcomes if o.action == "pending"]
            if (left or held) and not dry_run:
                parallel.write_pending(state, left + [n for n in held if n not in {c.name for c in certs}])
    finally:
        getattr(ctx.progress, "end", lambda: None)()
    ctx.close()
    return RunReport(outcomes, dry_run)


def _isolated(ctx, cert, *args):
    """_one() for one certificate; whatever it raises becomes that certificate's failure, so the
    others are still considered and the run still reports (and notifies)."""
    from acme_aliyun.acme_account import AccountDeactivated
    try:
        return _one(ctx, cert, *args)
    except AccountDeactivated:          # the account, not this certificate: the whole run stops
        raise
    except Exception as e:
        message = str(e) if isinstance(e, ToolError) else "internal error: %s: %s" % (type(e).__name__, e)
        log.error("%s: %s", cert.name, message)
        log.debug("%s: details", cert.name, exc_info=True)
        return CertOutcome(cert.name, action="failed", error=redact(message))


def _expiry(stored):
    return stored.bundle.not_after if stored is not None else None


def _one(ctx, cert, force_issue, force_deploy, dry_run, issue_when, deploy):
    from acme_aliyun import issuer, ratelimits, renewal
    from acme_aliyun.acme_account import AccountDeactivated
    out = CertOutcome(cert.name)
    stored = issuer.current(ctx.store, cert)
    # `deploy` issues only when there is no usable certificate; `run` whenever one is due
    needs = force_issue or issue_when == "due" or renewal.decide(
        stored, cert, directory_url=ctx.cfg.acme.directory_url).source in ("missing", "names", "expired", "ca",
                                                                          "revoked")
    if needs and not dry_run:
        try:
            r = issuer.issue(cert, ctx.store, ctx.acme(), ctx.cloud, force=force_issue, progress=ctx.progress,
                             timeout=ctx.cfg.acme.validation_timeout, ledger=None if force_issue else ctx.ledger)
            out.action, out.reason, out.next_renewal, stored = r.action, r.reason, r.renew_at, r.stored
            limited = r.reason.startswith(ratelimits.PREFIX)     # CA limits: an error only with nothing to serve
            if r.action == "deferred" and (stored is None or not limited):
                out.error = r.reason if limited else "renewal deferred: " + r.reason
        except AccountDeactivated:      # not this certificate's fault: the whole run stops
            raise
        except ToolError as e:
            out.action, out.error = "failed", str(e)
            log.error("%s: issuance failed: %s", cert.name, e)
            stored = issuer.current(ctx.store, cert)
    if not dry_run:
        from acme_aliyun import copies
        result = copies.sync(cert, stored)
        out.copies, out.copy_error = result.status, result.error
        from acme_aliyun import reload
        out.reload_error = reload.after_copies(cert, result.status, ctx.store)
    if stored is None:
        if out.error is None:
            out.error = "no certificate to deploy"
        return out
    out.not_after = stored.bundle.not_after
    if out.next_renewal is None:
        out.next_renewal = renewal.decide(stored, cert, directory_url=ctx.cfg.acme.directory_url).renew_at
    if not deploy or not cert.targets:
        return out
    if not stored.key_pem:
        out.error = "CSRFile without its KeyFile: the certificate cannot be deployed (set KeyFile)"
        return out
    blocked = None if (force_deploy or force_issue) else provenance.deploy_block(stored, ctx.cfg.acme)
    if blocked:
        out.error = _join(out.error, "not deployed: %s (deploy %s --force deploys it anyway)" % (blocked, cert.name))
        log.error("%s: %s", cert.name, out.error)
        return out
    return _deploy(ctx, cert, stored, out, force_deploy, dry_run)


def _deploy(ctx, cert, stored, out, force_deploy, dry_run):
    """Plan and apply the deployment of stored to cert's targets; the results go into out."""
    from acme_aliyun import deployer
    try:
        cloud = ctx.cloud_for(cert)
        ctx.progress("%s: reading what the targets serve" % cert.name)
        plan = deployer.plan(stored.bundle, cert.name, cert.targets, cloud, force=force_deploy)
        if plan.writes and not dry_run:
            ctx.progress("%s: deploying to %d target(s)" % (cert.name, len(plan.writes)))
        done = itertools.count(1)       # next() is atomic: the deploy threads share it

        def finished(_result):
            ctx.progress("%s: deploying %d/%d" % (cert.name, next(done), len(plan.writes)))
        out.targets = deployer.apply(plan, cloud, dry_run=dry_run, on_done=None if dry_run else finished)
    except ToolError as e:          # no credentials included: the outcome keeps what was issued
        out.error = _join(out.error, "deploy: %s" % e)
        log.error("%s: deploy failed: %s", cert.name, e)
    for t in out.targets:
        if t.status in ("refused", "failed"):
            log.error("%s: %s %s %s: %s%s", cert.name, t.kind, t.target, t.status, t.reason, t.error_ref())
    return out


def _join(first, second):
    return "%s; %s" % (first, second) if first else second


def describe_all(ctx):
    """For `status --targets`: what every configured target serves, per certificate."""
    from acme_aliyun import deployer
    rows = []
    for cert in ctx.certs():
        if not cert.targets:
            continue
        stored = ctx.store.load(cert.name)
        for t in deployer.describe_targets(cert.targets, ctx.cloud_for(cert), stored.bundle if stored else None,
                                           cert.name):
            state = t.error or ("yes" if t.matches else "no" if t.matches is False else "-")
            rows.append({"certificate": cert.name, "kind": t.kind, "target": t.target, "cert_name": t.cert_name,
                         "not_after": t.not_after.isoformat() if t.not_after else None,
                         "matches": t.matches, "state": state})
    return rows
