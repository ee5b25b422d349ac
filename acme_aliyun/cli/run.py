"""CLI verbs that do the main job: run, deploy, cloud check. Output: a summary table or --json."""

import argparse
import sys
from typing import TYPE_CHECKING, Any

from acme_aliyun import log as logsetup
from acme_aliyun.cli.common import command_name, context, out, out_json, say, wants_json
from acme_aliyun.errors import LockHeld
from acme_aliyun.kinds import CertAction, TargetStatus

if TYPE_CHECKING:
    from acme_aliyun.report import RunReport


DRY_RUN_HEADER = "DRY RUN \u2014 nothing written"
_COUNTS = "%8s %9s %7s %6s"      # the DEPLOY group: deployed (planned), unchanged, refused, failed


def print_summary(report: "RunReport") -> None:
    """The table of `run` and `deploy`: what issuance did (ISSUE), then the target counts grouped
    under DEPLOY; a dry run says so first and counts PLANNED instead of DEPLOYED."""
    from acme_aliyun.report import issue_text, when
    rows = []
    for o in report.outcomes:
        c = o.counts()
        first = c[TargetStatus.PLANNED] if report.dry_run else c[TargetStatus.DEPLOYED]
        counts = _COUNTS % (first, c[TargetStatus.UNCHANGED], c[TargetStatus.REFUSED], c[TargetStatus.FAILED])
        rows.append((o.name, issue_text(o), counts, when(o.next_renewal)))
    width = max([9] + [len(r[1]) for r in rows])
    heads = _COUNTS % ("PLANNED" if report.dry_run else "DEPLOYED", "UNCHANGED", "REFUSED", "FAILED")
    if report.dry_run:
        out(DRY_RUN_HEADER)
    out("%-20s %-*s %s  %s" % ("CERTIFICATE", width, "ISSUE", " DEPLOY ".center(len(heads), "-"), "NEXT RENEWAL"))
    out("%-20s %-*s %s" % ("", width, "", heads))
    for name, issue, counts, nxt in rows:
        out("%-20s %-*s %s  %s" % (name, width, issue, counts, nxt))
    for o in report.outcomes:
        if o.action == CertAction.PLANNED:
            out("%s: would issue %s (%s)" % (o.name, ", ".join(o.domains), o.challenge or "?"))
    from acme_aliyun import failures
    for line in failures.lines(report):
        out(line)


def _finish(ctx, report, args):
    doc = report.to_dict(command_name(args), {c.name: c.domains for c in ctx.cfg.certs.values()})
    if wants_json(args):
        out_json(doc)
    elif not args.quiet or not report.ok:
        print_summary(report)
    if not report.dry_run:
        from acme_aliyun import notify
        notify.send(ctx.cfg.notify, doc, failed=not report.ok)
    return report.exit_code


def _refused(ctx, error, args):
    """The run cannot start at all (the account was deactivated): one line, and the webhook is told."""
    print("error: %s" % logsetup.redact(str(error)), file=sys.stderr)
    _json_failure(args, error)
    _notify_failure(ctx, error, args)
    return error.exit_code


def _json_failure(args, error):
    if wants_json(args):
        from acme_aliyun import jsondoc
        out_json(jsondoc.failure(command_name(args), str(error)))


def _notify_failure(ctx, error, args):
    """The run could not report per certificate (unknown name, state folder unusable...): the webhook
    still hears of it (the failure document), once the config has loaded."""
    from acme_aliyun import notify
    from acme_aliyun.report import RunReport
    doc = RunReport.failure(logsetup.redact(str(error))).to_dict(command_name(args))
    notify.send(ctx.cfg.notify, doc, failed=True)


def cmd_run(args: argparse.Namespace) -> int:
    from acme_aliyun import runner
    from acme_aliyun.errors import AccountDeactivated
    ctx = context(args, progress=True)
    try:
        report = runner.run(ctx, args.names, wait=not args.no_wait, lock_timeout=args.lock_timeout,
                            force_issue=args.force, deploy=not args.staging)
    except LockHeld as e:
        if e.stale:             # not the usual overlap: say so even with --quiet, and notify
            print(logsetup.redact("warning: %s" % e), file=sys.stderr)
            _notify_failure(ctx, e, args)
        elif not args.quiet:
            print("error: %s" % e, file=sys.stderr)
        _json_failure(args, e)
        return e.exit_code
    except AccountDeactivated as e:
        return _refused(ctx, e, args)
    except Exception as e:
        _notify_failure(ctx, e, args)
        raise
    return _finish(ctx, report, args)


def cmd_deploy(args: argparse.Namespace) -> int:
    from acme_aliyun import runner
    from acme_aliyun.errors import AccountDeactivated
    ctx = context(args, read_only=args.dry_run, progress=True)
    try:
        report = runner.run(ctx, [args.name], wait=True, force_deploy=args.force, dry_run=args.dry_run,
                            issue_when="missing")
    except AccountDeactivated as e:
        return _refused(ctx, e, args)
    except Exception as e:
        _notify_failure(ctx, e, args)
        raise
    code = _finish(ctx, report, args)
    if args.verify_edge and not args.dry_run:
        from acme_aliyun import edgecheck
        code = max(code, edgecheck.verify(ctx, args.name, args.wait, say(args)))
    return code


def cmd_cloud_check(args: argparse.Namespace) -> int:
    from acme_aliyun import deployer
    ctx = context(args, read_only=True, progress=True)
    certs = ctx.certs(args.names) if args.names else list(ctx.cfg.certs.values())
    groups = _check_groups(ctx.cfg, certs, every_profile=not args.names)
    ok, reports = True, []
    for profile, (merged, dns) in groups:
        settings = ctx.cfg.cloud_for(profile)
        report = deployer.cloud_check(settings, merged, client=ctx.cloud(profile), write=args.write,
                                      extra=[_probe_dns_zones] if dns else [])
        reports.append((profile, report))
        ok = ok and report.ok
        if wants_json(args):
            continue
        named = len(groups) > 1 or profile is not None
        out("Credentials%s: %s" % (" " + settings.section if named else "", report.source))
        for p in report.probes:
            out("  %-10s %-40s %s  %s" % (p.kind, p.target, "ok  " if p.ok else "FAIL", p.detail))
        if not report.probes:
            out("  (no targets configured)")
    if wants_json(args):
        from acme_aliyun import jsondoc
        out_json(jsondoc.cloud_check(reports))
    return 0 if ok else 1



def _check_groups(cfg, certs, every_profile):
    """[(profile, (targets merged over the certificates deploying with it, probe its DNS zones?))],
    [aliyun] first, then the profiles in config order; every profile when no certificate is named."""
    groups = {}

    def group(profile):
        return groups.setdefault(profile, ({}, [False]))

    for cert in certs:
        merged = group(cert.account)[0]
        for kind, specs in cert.targets.items():
            merged.setdefault(kind, [])
            merged[kind] += [s for s in specs if s not in merged[kind]]
        if cert.dns_provider == "alidns":
            group(cert.dns_profile)[1][0] = True
    for name in cfg.profiles if every_profile else ():
        group(name)
    if not groups:
        group(None)
    order = [None] + list(cfg.profiles)
    return [(p, (groups[p][0], groups[p][1][0])) for p in order if p in groups]


def _probe_dns_zones(client):
    """`cloud check` for dns-01 on Alibaba Cloud DNS: can these credentials list the zones?"""
    from acme_aliyun.cloud.sdk import CloudError
    from acme_aliyun.targets.base import Probe
    try:
        data = client.call("dns", "DescribeDomains", {"PageSize": 1}, write=False)
        return Probe("dns", "zones", True, "%s zone(s)" % data.get("TotalCount", "?"))
    except CloudError as e:
        return Probe("dns", "zones", False, str(e))


def register(sub: Any) -> None:
    s = sub.add_parser("run", help="issue or renew what is due, then deploy where it differs (for timers)")
    s.add_argument("names", nargs="*", metavar="NAME")
    s.add_argument("--json", action="store_true", help="print the summary as one JSON document (docs/json.md)")
    s.add_argument("--no-wait", action="store_true", help="exit 3 at once if another run holds the lock")
    s.add_argument("--lock-timeout", type=float, default=None, metavar="SECONDS",
                   help="give up waiting for the lock after this long (exit 3)")
    s.add_argument("--force", action="store_true", help="renew even when not due")
    s.add_argument("--staging", action="store_true",
                   help="rehearse with Let's Encrypt staging in <StateDir>-staging; no copies, no deploy")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("deploy", help="deploy a certificate (issuing it first when there is none)")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    s.add_argument("--force", action="store_true", help="replace even certificates that live longer")
    s.add_argument("--json", action="store_true", help="print the summary as one JSON document (docs/json.md)")
    s.add_argument("--verify-edge", action="store_true",
                   help="then open TLS to each target domain until it serves the new serial ([probe] Resolve)")
    s.add_argument("--wait", type=float, default=600, metavar="SECONDS", help="how long --verify-edge waits")
    s.set_defaults(func=cmd_deploy)

    c = sub.add_parser("cloud", help="Alibaba Cloud: credentials and access check")
    csub = c.add_subparsers(dest="cloud_command", metavar="ACTION")
    csub.required = True
    k = csub.add_parser("check", help="show the credential source and probe each target with read calls")
    k.add_argument("names", nargs="*", metavar="NAME")
    k.add_argument("--json", action="store_true", help="print the result as one JSON document (docs/json.md)")
    k.add_argument("--write", action="store_true",
                   help="also upload a throwaway self-signed certificate to CAS and delete it (proves write access)")
    k.set_defaults(func=cmd_cloud_check)
