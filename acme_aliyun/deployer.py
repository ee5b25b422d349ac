"""Put one certificate on many CDN, DCDN and API Gateway targets, and say what happened.

plan() reads what every target serves and decides per target: unchanged (already
this certificate), refused (with the reason), failed (could not read) or planned
(to be written). Bulk listings answer for most targets (a domain a successful HTTPS
list leaves out serves no certificate); a target is read on its own only where the
listing failed or lacks evidence. apply() writes the planned ones under a CertName
unique to the certificate (one job per product, side by side), confirms them with the
same bulk listings, reads back one by one only what these do not yet show, and
reports deployed or failed. describe_targets()
is the read-only view for `status`; cloud_check() probes credentials and read
access for `cloud check`. Targets are handled concurrently; the SDK layer paces
every action under its QPS limit.
"""

import datetime
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional

from acme_aliyun.cloud import apigateway, cdn, dcdn
from acme_aliyun.cloud.certinfo import Deployed, unique_cert_name
from acme_aliyun.cloud.credentials import resolve_credentials
from acme_aliyun.cloud.sdk import CloudClient, CloudError
from acme_aliyun.config import Targets as TargetSpecs
from acme_aliyun.pki import CertBundle

logger = logging.getLogger(__name__)

WORKERS = 12
READBACK_ATTEMPTS = 3
READBACK_DELAY = 2.0
MODULES = {"cdn": cdn, "dcdn": dcdn, "apigateway": apigateway}


@dataclass
class TargetResult:
    kind: str                     # 'cdn' | 'dcdn' | 'apigateway'
    target: str                   # domain, or GroupId:domain
    status: str                   # 'deployed' | 'unchanged' | 'refused' | 'failed' | 'planned'
    reason: str = ""
    deployed_not_after: Optional[datetime.datetime] = None
    error_code: Optional[str] = None
    request_id: Optional[str] = None

    def error_ref(self):
        """' [Code, request ID]' for a target the cloud refused, '' otherwise."""
        if not self.error_code:
            return ""
        return " [%s%s]" % (self.error_code, ", request %s" % self.request_id if self.request_id else "")


@dataclass
class Plan:
    bundle: CertBundle
    cert_name: str                # the unique name the certificate is uploaded under
    results: List[TargetResult]

    @property
    def writes(self) -> List[TargetResult]:
        return [r for r in self.results if r.status == "planned"]


@dataclass
class TargetStatus:
    kind: str
    target: str
    cert_name: Optional[str] = None
    not_after: Optional[datetime.datetime] = None
    matches: Optional[bool] = None   # serves the local certificate (None: no local certificate given)
    error: Optional[str] = None


def _failed(kind, target, err: CloudError, what="") -> TargetResult:
    return TargetResult(kind, target, "failed", (what + str(err)) if what else str(err),
                        error_code=err.code, request_id=err.request_id)


def _pool_map(fn: Callable, items: list) -> list:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(fn, items))


# --- reading --------------------------------------------------------------------------------------

def _listings(client, targets: TargetSpecs):
    """Bulk reads: CDN and DCDN listings, each API Gateway group once.

    (kind, None) -> {domain: Deployed} for the domains the bulk reads answer for (a
    domain left out of a successful HTTPS list is Deployed(ssl_on=False)), or None when
    the listing failed; ("apigateway", group) -> {domain: Deployed} or the CloudError.
    """
    groups = sorted({apigateway.parse_spec(s)[0] for s in targets.apigateway})
    jobs = [("cdn", None)] * bool(targets.cdn) + [("dcdn", None)] * bool(targets.dcdn) + \
        [("apigateway", g) for g in groups]

    def run(job):
        kind, group = job
        try:
            if kind == "apigateway":
                return job, apigateway.read_group(client, group)
            return job, MODULES[kind].read_many(client, getattr(targets, kind))
        except CloudError as e:
            if kind != "apigateway":   # the per-domain reads will say what is wrong
                logger.debug("%s listing failed (%s); reading domains one by one", kind, e.code)
                return job, None
            return job, e

    return dict(_pool_map(run, jobs))


def _expand(targets: TargetSpecs, listings, bundle) -> List[tuple]:
    """(kind, target, listed Deployed or None or CloudError); bare GroupIds become covered domains."""
    out = []
    for kind in ("cdn", "dcdn"):
        listing = listings.get((kind, None)) or {}     # None: the listing failed, read every domain
        out += [(kind, d.lower(), listing.get(d.lower())) for d in getattr(targets, kind)]
    for spec in targets.apigateway:
        group, domain = apigateway.parse_spec(spec)
        listing = listings[("apigateway", group)]
        if isinstance(listing, CloudError):
            out.append(("apigateway", "%s:%s" % (group, domain) if domain else group, listing))
            continue
        if domain:
            out.append(("apigateway", "%s:%s" % (group, domain), listing.get(domain, _NOT_BOUND)))
            continue
        covered = [d for d in sorted(listing) if bundle is None or bundle.covers(d)]
        out += [("apigateway", "%s:%s" % (group, d), listing[d]) for d in covered]
        if not covered:
            out.append(("apigateway", group, _NONE_COVERED))
    seen, unique = set(), []
    for item in out:
        if item[:2] not in seen:
            seen.add(item[:2])
            unique.append(item)
    return unique


_NOT_BOUND = object()       # an API Gateway domain not among the group's custom domains
_NONE_COVERED = object()    # a bare GroupId none of whose custom domains the certificate covers


# --- plan / apply ---------------------------------------------------------------------------------

def plan(bundle: CertBundle, cert_name: str, targets: TargetSpecs, client: CloudClient,
         force: bool = False) -> Plan:
    """Decide per target; cert_name is the base name ('<base>-<yyyymmdd>-<serial8>' is uploaded)."""
    name = unique_cert_name(cert_name, bundle)
    whole = None
    if not bundle.key_matches():
        whole = "the private key does not match the certificate"
    elif bundle.expired():
        whole = "the certificate expired on %s" % bundle.not_after.strftime("%Y-%m-%d %H:%M UTC")
    if whole:
        specs = [("cdn", d) for d in targets.cdn] + [("dcdn", d) for d in targets.dcdn] + \
            [("apigateway", s) for s in targets.apigateway]
        return Plan(bundle, name, [TargetResult(k, t, "refused", whole) for k, t in specs])
    items = _expand(targets, _listings(client, targets), bundle)
    return Plan(bundle, name, _pool_map(lambda item: _decide(item, bundle, name, client, force), items))


def _decide(item, bundle, name, client, force) -> TargetResult:
    kind, target, listed = item
    if isinstance(listed, CloudError):
        return _failed(kind, target, listed)
    if listed is _NONE_COVERED:
        return TargetResult(kind, target, "refused", "the certificate covers none of the group's custom domains")
    domain = target.split(":", 1)[1] if kind == "apigateway" else target
    if listed is _NOT_BOUND:
        return TargetResult(kind, target, "failed", "%s is not a custom domain of API group %s"
                            % (domain, target.split(":")[0]), error_code="NotFoundDomain")
    if not bundle.covers(domain):
        return TargetResult(kind, target, "refused", "the certificate (%s) does not cover %s"
                            % (", ".join(bundle.names), domain))
    if listed is not None and listed.cert_name == name:
        return TargetResult(kind, target, "unchanged", "already serves %s" % name,
                            deployed_not_after=bundle.not_after)
    current = listed
    if current is None or not current.empty:
        try:
            current = MODULES[kind].read_one(client, target)
        except CloudError as e:
            return _failed(kind, target, e)
    return _judge(kind, target, current, bundle, name, force)


def _judge(kind, target, current: Deployed, bundle, name, force) -> TargetResult:
    if current.is_ours(name, bundle):
        return TargetResult(kind, target, "unchanged", "already serves this certificate (%s)"
                            % (current.cert_name or "serial %s" % bundle.serial),
                            deployed_not_after=bundle.not_after)
    if current.outlives(bundle) and not force:
        return TargetResult(kind, target, "refused", "it serves %s valid until %s, longer than this "
                            "certificate (until %s); use --force to replace it" % (
                                current.cert_name or "a certificate", _day(current.not_after),
                                _day(bundle.not_after)), deployed_not_after=current.not_after)
    forced = " (forced)" if current.outlives(bundle) else ""
    was = "replace %s with" % (current.cert_name or "the certificate") if not current.empty else "install"
    return TargetResult(kind, target, "planned", "will %s %s%s" % (was, name, forced),
                        deployed_not_after=current.not_after)


def _day(dt):
    return dt.strftime("%Y-%m-%d") if dt else "?"


def apply(plan: Plan, client: CloudClient, dry_run: bool = False) -> List[TargetResult]:
    """Write the planned targets, confirm them; dry_run returns the plan without writing."""
    if dry_run:
        return [replace(r) for r in plan.results]
    by_kind: Dict[str, List[str]] = {}
    for r in plan.writes:
        by_kind.setdefault(r.kind, []).append(r.target)
    # one job per product, side by side: CDN in batches of 10 sharing one upload, DCDN and
    # API Gateway a few targets at a time inside their job; the client paces every action
    jobs = [(k, by_kind[k]) for k in ("cdn", "dcdn", "apigateway") if k in by_kind]
    write_errors: Dict[tuple, Optional[CloudError]] = {}
    for (kind, _targets), errors in zip(jobs, _pool_map(
            lambda job: MODULES[job[0]].write(client, job[1], plan.cert_name, plan.bundle), jobs)):
        write_errors.update({(kind, t): e for t, e in errors.items()})
    written = [r for r in plan.writes if write_errors.get((r.kind, r.target)) is None]
    confirmed = _confirm_in_bulk(client, written, plan)

    def finish(r: TargetResult) -> TargetResult:
        if r.status != "planned":
            return replace(r)
        err = write_errors.get((r.kind, r.target))
        if err is not None:
            return _failed(r.kind, r.target, err)
        if (r.kind, r.target) in confirmed:
            return TargetResult(r.kind, r.target, "deployed", "now serves %s" % plan.cert_name,
                                deployed_not_after=plan.bundle.not_after)
        return _read_back(client, r, plan)

    return _pool_map(finish, plan.results)


def _confirm_in_bulk(client, written: List[TargetResult], plan: Plan) -> set:
    """(kind, target) of the written targets whose bulk listing already shows the upload.

    One paged DescribeCdnHttpsDomainList, one DescribeDcdnHttpsDomainList and one
    DescribeApiGroup per group; the listed CertName (it encodes expiry date and serial
    prefix) and expiry are the evidence. Whatever they do not show, or a listing that
    fails, is left to the per-target _read_back.
    """
    targets: Dict[tuple, List[str]] = {}
    for r in written:
        key = (r.kind, apigateway.parse_spec(r.target)[0] if r.kind == "apigateway" else None)
        targets.setdefault(key, []).append(r.target)

    def run(job):
        (kind, group), names = job
        try:
            if kind == "apigateway":
                listing = apigateway.read_group(client, group)
                shown = {t: listing.get(apigateway.parse_spec(t)[1]) for t in names}
            else:
                listing = MODULES[kind].list_https(client, names)
                shown = {t: listing.get(t) for t in names}
        except CloudError as e:
            logger.debug("%s bulk read-back failed (%s); reading back one by one", kind, e.code)
            return set()
        return {(kind, t) for t, d in shown.items() if d is not None and d.shows_upload(plan.cert_name, plan.bundle)}

    return set().union(*_pool_map(run, list(targets.items())))


def _read_back(client, r: TargetResult, plan: Plan) -> TargetResult:
    for attempt in range(READBACK_ATTEMPTS):
        try:
            now = MODULES[r.kind].read_one(client, r.target)
        except CloudError as e:
            return _failed(r.kind, r.target, e, "written, but the read-back failed: ")
        if now.is_ours(plan.cert_name, plan.bundle):
            return TargetResult(r.kind, r.target, "deployed", "now serves %s" % plan.cert_name,
                                deployed_not_after=plan.bundle.not_after)
        if attempt + 1 < READBACK_ATTEMPTS:
            time.sleep(READBACK_DELAY)
    return TargetResult(r.kind, r.target, "failed", "written, but it still serves %s"
                        % (now.cert_name or "another certificate"), error_code="ReadBackMismatch",
                        deployed_not_after=now.not_after)


# --- status / check -------------------------------------------------------------------------------

def describe_targets(targets: TargetSpecs, client: CloudClient, bundle: Optional[CertBundle] = None,
                     cert_name: Optional[str] = None) -> List[TargetStatus]:
    """What each target serves, until when, and whether it is the local certificate (if given)."""
    name = unique_cert_name(cert_name, bundle) if bundle is not None else None
    items = _expand(targets, _listings(client, targets), bundle)

    def one(item) -> TargetStatus:
        kind, target, listed = item
        if isinstance(listed, CloudError):
            return TargetStatus(kind, target, error=str(listed))
        if listed is _NONE_COVERED or listed is _NOT_BOUND:
            return TargetStatus(kind, target, error="no matching custom domain in the group")
        if listed is None:
            try:
                listed = MODULES[kind].read_one(client, target)
            except CloudError as e:
                return TargetStatus(kind, target, error=str(e))
        if listed.empty:
            return TargetStatus(kind, target, matches=False if bundle is not None else None)
        return TargetStatus(kind, target, listed.cert_name, listed.not_after,
                            listed.is_ours(name, bundle) if bundle is not None else None)

    return _pool_map(one, items)


@dataclass
class Probe:
    kind: str
    target: str
    ok: bool
    detail: str


@dataclass
class CheckReport:
    source: str                    # the credential source label
    probes: List[Probe]

    @property
    def ok(self):
        return all(p.ok for p in self.probes)


def cloud_check(settings, targets: TargetSpecs, client: Optional[CloudClient] = None,
                dns: bool = False) -> CheckReport:
    """Resolve credentials, then one read per target (and DNS zones when dns=True)."""
    client = client or CloudClient(settings, resolve_credentials(settings))
    jobs = [("cdn", d) for d in targets.cdn] + [("dcdn", d) for d in targets.dcdn]
    jobs += [("apigateway", g) for g in sorted({apigateway.parse_spec(s)[0] for s in targets.apigateway})]
    jobs += [("dns", "zones")] * bool(dns)

    def probe(job) -> Probe:
        kind, target = job
        try:
            if kind == "apigateway":
                return Probe(kind, target, True, "%d custom domain(s)" % len(apigateway.read_group(client, target)))
            if kind == "dns":
                data = client.call("dns", "DescribeDomains", {"PageSize": 1}, write=False)
                return Probe(kind, target, True, "%s zone(s)" % data.get("TotalCount", "?"))
            now = MODULES[kind].read_one(client, target)
            return Probe(kind, target, True, "serves %s" % (now.cert_name or "no certificate")
                         if not now.empty else "no certificate")
        except CloudError as e:
            return Probe(kind, target, False, str(e))

    return CheckReport(client.source, _pool_map(probe, jobs))
