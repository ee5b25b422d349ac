"""The main job: for each certificate, issue or renew when due, then deploy where it differs.

Used by `run`, `deploy` and the Function Compute handler. Holds the state lock
for the whole run, so two runs never order the same certificate twice. Returns
a RunReport; formatting is the caller's business.
"""

import datetime
import itertools
import logging
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from acme_aliyun import lastrun, provenance
from acme_aliyun.errors import ToolError
from acme_aliyun.kinds import BAD_STATUSES, CertAction
from acme_aliyun.log import redact
from acme_aliyun.report import CertOutcome, RunReport

if TYPE_CHECKING:
    from acme_aliyun.context import Context

__all__ = ["run", "describe_all", "CertOutcome", "RunReport"]

log = logging.getLogger(__name__)


def run(ctx: "Context", names: Optional[Sequence[str]] = None, wait: bool = True,
        lock_timeout: Optional[float] = None, force_issue: bool = False, force_deploy: bool = False,
        dry_run: bool = False, issue_when: str = "due", deploy: bool = True,
        budget: Optional[float] = None) -> RunReport:
    """issue_when: 'due' (run), 'missing' (deploy: only when no valid local certificate).

    Certificates run side by side ([acme] Parallel); budget: seconds for starting them
    (default [acme] RunBudget, none); what it leaves out is 'pending' (acme_aliyun/parallel.py)."""
    from acme_aliyun import issuer, parallel
    certs = ctx.certs(names)
    acme = ctx.cfg.acme
    limit = parallel.Budget(budget if budget is not None else getattr(acme, "run_budget", None))
    try:
        with ctx.store.lock(wait=wait, timeout=lock_timeout, on_wait=lambda m, t: ctx.progress(m, limit=t)):
            state = ctx.store.state_dir
            held = parallel.pending_names(state)
            order = parallel.start_order(certs, held, lambda c: _expiry(issuer.current(ctx.store, c)))
            outcomes = parallel.run_all(
                certs, lambda c: _isolated(ctx, c, force_issue, force_deploy, dry_run, issue_when, deploy),
                lambda c, why: CertOutcome(c.name, CertAction.PENDING, why), getattr(acme, "parallel", 1), limit,
                order)
            left = [o.name for o in outcomes if o.action == CertAction.PENDING]
            if (left or held) and not dry_run:
                parallel.write_pending(state, left + [n for n in held if n not in {c.name for c in certs}])
            report = RunReport(outcomes, dry_run, command="run" if issue_when == "due" else "deploy",
                               finished=datetime.datetime.now(datetime.timezone.utc))
            if not dry_run:
                lastrun.record(ctx.store, report)
    finally:
        getattr(ctx.progress, "end", lambda: None)()
    ctx.close()
    return report


def _isolated(ctx, cert, *args):
    """_one() for one certificate; whatever it raises becomes that certificate's failure, so the
    others are still considered and the run still reports (and notifies)."""
    from acme_aliyun.errors import AccountDeactivated
    try:
        return _one(ctx, cert, *args)
    except AccountDeactivated:          # the account, not this certificate: the whole run stops
        raise
    except Exception as e:
        message = str(e) if isinstance(e, ToolError) else "internal error: %s: %s" % (type(e).__name__, e)
        log.error("%s: %s", cert.name, message)
        log.debug("%s: details", cert.name, exc_info=True)
        return CertOutcome(cert.name, action=CertAction.FAILED, error=redact(message))


def _expiry(stored: Any) -> Any:
    return stored.bundle.not_after if stored is not None else None


def _one(ctx, cert, force_issue, force_deploy, dry_run, issue_when, deploy):
    from acme_aliyun import issuer, renewal
    out = CertOutcome(cert.name, domains=list(cert.domains))
    stored = issuer.current(ctx.store, cert)
    # `deploy` issues only when there is no usable certificate; `run` whenever one is due
    decision = renewal.decide(stored, cert, directory_url=ctx.cfg.acme.directory_url) \
        if dry_run or issue_when != "due" else None
    needs = force_issue or issue_when == "due" or decision.source in ("missing", "names", "expired", "ca", "revoked")
    if needs and decision is not None and dry_run and decision.due:
        return _would_issue(cert, out, decision.reason)
    if needs and not dry_run:
        stored = _issue(ctx, cert, out, force_issue)
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
    out.not_after, out.serial = stored.bundle.not_after, stored.bundle.serial
    if out.next_renewal is None:
        out.next_renewal = renewal.decide(stored, cert, directory_url=ctx.cfg.acme.directory_url).renew_at
    if not deploy or not cert.targets:
        return out
    if _deploy_refused(ctx, cert, stored, out, force_deploy or force_issue):
        return out
    return _deploy(ctx, cert, stored, out, force_deploy, dry_run)


def _would_issue(cert, out, why):
    """A dry run where a real one would order a new certificate first: say so, and plan every target
    for it (the deployer cannot compare a certificate that does not exist yet)."""
    from acme_aliyun.kinds import TargetStatus
    from acme_aliyun.report import TargetResult
    out.action, out.reason, out.challenge = CertAction.PLANNED, why, cert.challenge
    out.targets = [TargetResult(spec.kind, spec.target, TargetStatus.PLANNED, "would get the new certificate")
                   for specs in cert.targets.values() for spec in specs]
    return out


def _issue(ctx, cert, out, force):
    """Issue or renew (the issuer decides whether it is due); what happened goes into out. Returns
    the certificate to go on with: the new one, else whatever is stored."""
    from acme_aliyun import issuer, ratelimits
    from acme_aliyun.errors import AccountDeactivated
    out.issue_checked = True
    try:
        r = issuer.issue(cert, ctx.store, ctx.acme(), ctx.cloud, force=force, progress=ctx.progress,
                         timeout=ctx.cfg.acme.validation_timeout, ledger=None if force else ctx.ledger)
    except AccountDeactivated:      # not this certificate's fault: the whole run stops
        raise
    except ToolError as e:
        out.action, out.error = CertAction.FAILED, str(e)
        log.error("%s: issuance failed: %s", cert.name, e)
        from acme_aliyun.jsondoc import read_time
        out.deferred_until = read_time(ctx.store.read_attempts(cert.name).get("next_attempt"))
        return issuer.current(ctx.store, cert)
    out.action, out.reason, out.next_renewal = r.action, r.reason, r.renew_at
    if r.action == CertAction.DEFERRED:
        out.deferred_until = r.renew_at         # the backoff's next attempt, or the CA limit's next slot
    limited = r.reason.startswith(ratelimits.PREFIX)     # CA limits: an error only with nothing to serve
    if r.action == CertAction.DEFERRED and (r.stored is None or not limited):
        out.error = r.reason if limited else "renewal deferred: " + r.reason
    return r.stored


def _deploy_refused(ctx, cert, stored, out, forced):
    """True (with out.error set) when this certificate must not go to its targets: no key to
    deploy, or a provenance rule says no (a forced run overrides the rules)."""
    if not stored.key_pem:
        out.error = "CSRFile without its KeyFile: the certificate cannot be deployed (set KeyFile)"
        return True
    blocked = None if forced else provenance.deploy_block(stored, ctx.cfg.acme)
    if blocked:
        out.error = _join(out.error, "not deployed: %s (deploy %s --force deploys it anyway)" % (blocked, cert.name))
        log.error("%s: %s", cert.name, out.error)
        return True
    return False


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
        if t.status in BAD_STATUSES:
            log.error("%s: %s %s %s: %s%s", cert.name, t.kind, t.target, t.status, t.reason, t.error_ref())
    return out




def _join(first, second):
    return "%s; %s" % (first, second) if first else second


def describe_all(ctx: "Context") -> List[Dict[str, Any]]:
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
                         "matches": t.matches, "error": t.error, "state": state})
    return rows
