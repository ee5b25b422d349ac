"""Put one certificate on many targets, and say what happened; names no product.

plan() reads what every target serves (each kind's bulk read first, a target on its
own only where the bulk read lacks evidence) and decides per target: unchanged
(already this certificate), refused (with the reason), failed (could not read) or
planned. apply() prepares the upload once (targets.uploads: the certificate placed in
the upload hub for the kinds that take a reference, or inline), writes the planned
targets (one job per kind, side by side; the SDK layer paces every action), confirms
them with the bulk reads, reads back one by one only what these do not yet show, and
once every target has the certificate lets the hub delete our superseded uploads that
no target serves. describe_targets() is the read-only view for `status`;
cloud_check() the probes for `cloud check`. Every product-specific step is a call
on a TargetKind from acme_aliyun.targets; this module names no product.
"""

import datetime
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from acme_aliyun.cloud.credentials import resolve_credentials
from acme_aliyun.cloud.settings import CloudSettings
from acme_aliyun.cloud.sdk import CloudClient, CloudError
from acme_aliyun.kinds import TargetStatus as Status
from acme_aliyun.pki import CertBundle
from acme_aliyun.report import TargetResult
from acme_aliyun.targets import KINDS, uploads
from acme_aliyun.targets.base import Marker, Probe, Reading, TargetSpec, Upload
from acme_aliyun.targets.served import Served, unique_cert_name

logger = logging.getLogger(__name__)

WORKERS = 12
READBACK_ATTEMPTS = 3
READBACK_DELAY = 2.0
TargetSpecs = Dict[str, List[TargetSpec]]     # kind -> its configured specs (config.CertSettings.targets)


@dataclass
class Plan:
    bundle: CertBundle
    cert_name: str                # the unique name the certificate is uploaded under
    results: List[TargetResult]
    base_name: str = ""
    specs: Dict[Tuple[str, str], TargetSpec] = field(default_factory=dict, repr=False)
    all_specs: TargetSpecs = field(default_factory=dict, repr=False)
    served: Dict[TargetSpec, Served] = field(default_factory=dict, repr=False)   # what the plan read

    @property
    def writes(self) -> List[TargetResult]:
        return [r for r in self.results if r.status == Status.PLANNED]


@dataclass
class TargetView:
    kind: str
    target: str
    cert_name: Optional[str] = None
    not_after: Optional[datetime.datetime] = None
    matches: Optional[bool] = None   # serves the local certificate (None: no local certificate given)
    error: Optional[str] = None


def _failed(spec: TargetSpec, err: CloudError, what: str = "") -> TargetResult:
    return TargetResult(spec.kind, spec.target, Status.FAILED, what + err.brief,      # code and request id: error_ref()
                        error_code=err.code, request_id=err.request_id)


def _pool_map(fn: Callable, items: list) -> list:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(fn, items))


# --- reading --------------------------------------------------------------------------------------

def _readings(client: CloudClient, targets: TargetSpecs, bundle: Optional[CertBundle]) -> List[Tuple[TargetSpec, Reading]]:
    """Each kind's bulk read, side by side; scopes expanded to the domains the certificate covers."""
    jobs = [(name, specs) for name, specs in targets.items() if specs]
    answers = _pool_map(lambda job: KINDS[job[0]].read_many(client, job[1]), jobs)
    out: List[Tuple[TargetSpec, Reading]] = []
    for (_, specs), answer in zip(jobs, answers):
        for spec in specs:
            out += _answer_for(spec, answer, bundle)
    seen: Set[Tuple[str, str]] = set()
    unique = []
    for spec, reading in out:
        if (spec.kind, spec.target) not in seen:
            seen.add((spec.kind, spec.target))
            unique.append((spec, reading))
    return unique


def _answer_for(spec: TargetSpec, answer: Dict[TargetSpec, Reading],
                bundle: Optional[CertBundle]) -> List[Tuple[TargetSpec, Reading]]:
    if spec in answer:
        return [(spec, answer[spec])]
    children = [(s, r) for s, r in answer.items() if s.expanded and s.target.startswith(spec.target + ":")]
    if not children:
        return [(spec, None)]
    covered = [(s, r) for s, r in children if bundle is None or bundle.covers(s.domain or "")]
    return covered or [(spec, Marker(Status.REFUSED, "the certificate covers none of the custom domains of %s"
                                     % spec.target))]


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
        results = [TargetResult(s.kind, s.target, Status.REFUSED, whole) for specs in targets.values() for s in specs]
        return Plan(bundle, name, results, cert_name, all_specs=targets)
    items = _readings(client, targets, bundle)
    served: Dict[TargetSpec, Served] = {}
    results = _pool_map(lambda item: _decide(item[0], item[1], bundle, name, client, force, served), items)
    return Plan(bundle, name, results, cert_name, {(s.kind, s.target): s for s, _ in items}, targets, served)


def _decide(spec: TargetSpec, listed: Reading, bundle: CertBundle, name: str, client: CloudClient,
            force: bool, served: Dict[TargetSpec, Served]) -> TargetResult:
    if isinstance(listed, CloudError):
        return _failed(spec, listed)
    if isinstance(listed, Marker):
        return TargetResult(spec.kind, spec.target, listed.status, listed.reason, error_code=listed.code)
    refusal = _uncovered(spec, listed, bundle, force)
    if refusal is not None:
        return refusal
    if listed is not None and listed.is_ours(name, bundle):     # exact name, or its expiry and serial evidence
        return TargetResult(spec.kind, spec.target, Status.UNCHANGED, "already serves %s" % (listed.cert_name or name),
                            deployed_not_after=bundle.not_after)
    current = listed
    if current is None or not (current.empty or KINDS[spec.kind].reads_each):   # a listing may trail writes
        try:
            current = KINDS[spec.kind].read_one(client, spec)
        except CloudError as e:
            return _failed(spec, e)
    served[spec] = current
    return _uncovered(spec, current, bundle, force) or _judge(spec, current, bundle, name, force)


def _uncovered(spec: TargetSpec, served: Optional[Served], bundle: CertBundle, force: bool) -> Optional[TargetResult]:
    """Refused when the certificate misses a name the target needs: one from its configuration (what
    the kind asks for before reading anything), or one of the certificate it serves now (a target
    configured without a domain), which --force overrides."""
    kind = KINDS[spec.kind]
    configured = kind.names_to_cover(spec, None)
    hard = [n for n in configured if not bundle.covers(n)]
    if hard:
        return TargetResult(spec.kind, spec.target, Status.REFUSED, "the certificate (%s) does not cover %s"
                            % (", ".join(bundle.names), ", ".join(hard)))
    soft = [n for n in kind.names_to_cover(spec, served) if n not in configured and not bundle.covers(n)]
    if not soft or force:
        return None
    return TargetResult(spec.kind, spec.target, Status.REFUSED, "the certificate (%s) does not cover %s, which it "
                        "serves now with %s; use --force to replace it" % (
                            ", ".join(bundle.names), ", ".join(soft),
                            (served.cert_name if served else None) or "another certificate"))


def _judge(spec: TargetSpec, current: Served, bundle: CertBundle, name: str, force: bool) -> TargetResult:
    kind, target = spec.kind, spec.target
    if current.is_ours(name, bundle):
        return TargetResult(kind, target, Status.UNCHANGED, "already serves this certificate (%s)"
                            % (current.cert_name or "serial %s" % bundle.serial),
                            deployed_not_after=bundle.not_after)
    if current.outlives(bundle) and not force:
        return TargetResult(kind, target, Status.REFUSED, "it serves %s valid until %s, longer than this "
                            "certificate (until %s); use --force to replace it" % (
                                current.cert_name or "a certificate", _day(current.not_after),
                                _day(bundle.not_after)), deployed_not_after=current.not_after)
    forced = " (forced)" if current.outlives(bundle) else ""
    was = "replace %s with" % (current.cert_name or "the certificate") if not current.empty else "install"
    return TargetResult(kind, target, Status.PLANNED, "will %s %s%s" % (was, name, forced),
                        deployed_not_after=current.not_after)


def _day(dt: Optional[datetime.datetime]) -> str:
    return dt.strftime("%Y-%m-%d") if dt else "?"


def apply(plan: Plan, client: CloudClient, dry_run: bool = False,
          on_done: Optional[Callable[[TargetResult], None]] = None) -> List[TargetResult]:
    """Write the planned targets, confirm them, clean up; dry_run returns the plan without writing.
    on_done(result) is called (from a worker thread) as each written target is settled."""
    if dry_run:
        return [replace(r) for r in plan.results]
    by_kind: Dict[str, List[TargetSpec]] = {}
    for r in plan.writes:
        by_kind.setdefault(r.kind, []).append(plan.specs[(r.kind, r.target)])
    upload, write_errors, upload_error = uploads.prepare(
        client, plan.bundle, plan.base_name, plan.cert_name, [(KINDS[k], specs) for k, specs in by_kind.items()],
        plan.served)
    jobs = [(k, [s for s in specs if s not in write_errors]) for k, specs in by_kind.items()]
    for errors in _pool_map(lambda job: _write_kind(client, job[0], job[1], upload, upload_error), jobs):
        write_errors.update(errors)
    written = [s for specs in by_kind.values() for s in specs if write_errors.get(s) is None]
    confirmed = _confirm_in_bulk(client, written, upload)

    def finish(r: TargetResult) -> TargetResult:
        if r.status != Status.PLANNED:
            return replace(r)
        result = settle(r)
        if on_done is not None:
            on_done(result)
        return result

    def settle(r: TargetResult) -> TargetResult:
        spec = plan.specs[(r.kind, r.target)]
        err = write_errors.get(spec)
        if err is not None:
            return _failed(spec, err)
        if spec in confirmed:
            name = uploads.for_kind(upload, KINDS[r.kind]).name_for(r.kind)
            return TargetResult(r.kind, r.target, Status.DEPLOYED, "now serves %s" % name,
                                deployed_not_after=plan.bundle.not_after)
        return _read_back(client, spec, upload)

    results = _pool_map(finish, plan.results)
    _clean_up(client, plan, results)
    return results


def _write_kind(client: CloudClient, kind: str, specs: List[TargetSpec], upload: Upload,
                upload_error: Optional[CloudError]) -> Dict[TargetSpec, Optional[CloudError]]:
    if not specs:
        return {}
    if upload_error is not None and KINDS[kind].by_reference:
        return {s: upload_error for s in specs}
    return KINDS[kind].write(client, specs, uploads.for_kind(upload, KINDS[kind]))


def _confirm_in_bulk(client: CloudClient, written: List[TargetSpec], upload: Upload) -> Set[TargetSpec]:
    """The written specs whose kind's bulk read already shows the upload (by its name, which
    encodes expiry and serial prefix, or by its hub id); the rest are read back one by one."""
    by_kind: Dict[str, List[TargetSpec]] = {}
    for s in written:
        by_kind.setdefault(s.kind, []).append(s)

    def run(job: Tuple[str, List[TargetSpec]]) -> Set[TargetSpec]:
        kind, specs = job
        answer = KINDS[kind].read_many(client, specs)
        mine = uploads.for_kind(upload, KINDS[kind])
        shown = {s: answer.get(s) for s in specs}
        return {s for s, v in shown.items() if isinstance(v, Served) and uploads.shows(v, mine, KINDS[kind])}

    return set().union(*_pool_map(run, list(by_kind.items())))


def _read_back(client: CloudClient, spec: TargetSpec, upload: Upload) -> TargetResult:
    mine = uploads.for_kind(upload, KINDS[spec.kind])
    name = mine.name_for(spec.kind)
    for attempt in range(READBACK_ATTEMPTS):
        try:
            now = KINDS[spec.kind].read_one(client, spec)
        except CloudError as e:
            return _failed(spec, e, "written, but the read-back failed: ")
        if now.is_ours(name, upload.bundle) or (mine.ref is not None and now.cert_id == mine.ref.cert_id
                                                 and now.serial in (None, upload.bundle.serial)):
            return TargetResult(spec.kind, spec.target, Status.DEPLOYED, "now serves %s" % name,
                                deployed_not_after=upload.bundle.not_after)
        if attempt + 1 < READBACK_ATTEMPTS:
            time.sleep(READBACK_DELAY)
    return TargetResult(spec.kind, spec.target, Status.FAILED, "written, but it still serves %s"
                        % (now.cert_name or "another certificate"), error_code="ReadBackMismatch",
                        deployed_not_after=now.not_after)


# --- clean-up of superseded uploads ---------------------------------------------------------------

def _clean_up(client: CloudClient, plan: Plan, results: List[TargetResult]) -> None:
    """Let the hub delete our superseded uploads, once every target of this certificate has it."""
    if any(r.status in (Status.FAILED, Status.PLANNED) for r in results):
        return
    by_reference = {k: specs for k, specs in plan.all_specs.items() if specs and KINDS[k].by_reference}
    if by_reference:
        uploads.clean_up(client, plan.base_name, plan.bundle, lambda: _served_references(client, by_reference))


def _served_references(client: CloudClient, by_reference: TargetSpecs) -> Tuple[Set[int], Set[str]]:
    """The hub ids and certificate names every by-reference target serves now (CloudError: unknown)."""
    ids: Set[int] = set()
    names: Set[str] = set()
    for kind, specs in by_reference.items():
        answer = KINDS[kind].read_many(client, specs)
        for spec in specs:
            served = answer.get(spec)       # a hub name is unique in the account: it identifies the upload
            if not isinstance(served, Served) or (served.cert_id is None and not served.cert_name):
                served = KINDS[kind].read_one(client, spec)
            ids.update(s.cert_id for s in served.every() if s.cert_id is not None)
            names.update(s.cert_name for s in served.every() if s.cert_name)
    return ids, names


# --- status / check -------------------------------------------------------------------------------

def describe_targets(targets: TargetSpecs, client: CloudClient, bundle: Optional[CertBundle] = None,
                     cert_name: Optional[str] = None) -> List[TargetView]:
    """What each target serves, until when, and whether it is the local certificate (if given)."""
    name = unique_cert_name(cert_name, bundle) if bundle is not None else None

    def one(item: Tuple[TargetSpec, Reading]) -> TargetView:
        spec, listed = item
        if isinstance(listed, CloudError):
            return TargetView(spec.kind, spec.target, error=str(listed))
        if isinstance(listed, Marker):
            return TargetView(spec.kind, spec.target, error="no matching custom domain in the group")
        if listed is None:
            try:
                listed = KINDS[spec.kind].read_one(client, spec)
            except CloudError as e:
                return TargetView(spec.kind, spec.target, error=str(e))
        if listed.empty:
            return TargetView(spec.kind, spec.target, matches=False if bundle is not None else None)
        return TargetView(spec.kind, spec.target, listed.cert_name, listed.not_after,
                            listed.is_ours(name, bundle) if bundle is not None else None)

    return _pool_map(one, _readings(client, targets, bundle))


@dataclass
class CheckReport:
    source: str                    # the credential source label
    probes: List[Probe]

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.probes)


def _one_probe(fn: Callable[[CloudClient], Probe], client: CloudClient) -> List[Probe]:
    return [fn(client)]


def cloud_check(settings: CloudSettings, targets: TargetSpecs, client: Optional[CloudClient] = None,
                write: bool = False, extra: Sequence[Callable[[CloudClient], Probe]] = ()) -> CheckReport:
    """Resolve credentials, then one read per target, the upload hub's probe (with write=True a
    throwaway certificate uploaded and deleted) and the `extra` probes the caller adds."""
    client = client or CloudClient(settings, resolve_credentials(settings))
    jobs: List[Callable[[], List[Probe]]] = [
        functools.partial(KINDS[kind].probe, client, specs) for kind, specs in targets.items() if specs]
    if any(KINDS[k].by_reference for k, s in targets.items() if s):
        jobs.append(lambda: uploads.probe(client, write))
    jobs += [functools.partial(_one_probe, fn, client) for fn in extra]
    return CheckReport(client.source, [p for probes in _pool_map(lambda job: job(), jobs) for p in probes])
