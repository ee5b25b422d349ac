"""ALB, Alb 2020-06-16 (RPC): listeners with a default and additional certificates, and asynchronous jobs.

Why: issue 13 deploys certificates to ALB HTTPS listeners. Facts from /work/shared/reference/aliyun-targets.md
section 4 and the request classes of aliyun-python-sdk-alb 1.0.22.

State (kept in ``State.extra["alb"]``): listeners per region (protocol, one default certificate, additional
certificates with their association status) and jobs. Certificates are CAS certificates named by their
global id ``<CertId>-<site region>`` and must exist in CAS. Every write (UpdateListenerAttribute,
Associate/DissociateAdditionalCertificates(With|From)Listener) returns a JobId; the listener is
``Configuring`` until the job finishes ``job_seconds`` later, and only then does the change show
(GetListenerAttribute, ListListenerCertificates); ListAsynJobs reports the job Processing, then Succeeded.
A write while the listener is Configuring is refused with IncorrectStatus.Listener "The status of lsn-…
[Configuring] is incorrect." (the observed answer). At most 25 additional certificates per listener and 20
per Dissociate call (documented). Listeners are regional: another RegionId does not find them.

Codes the reference does not give are the emulator's choice [assumed]: ResourceNotFound.Listener,
ResourceNotFound.Certificate, ResourceAlreadyAssociated.Certificate, ResourceNotAssociated.Certificate,
QuotaExceeded.ListenerCertificatesNum, OperationDenied.ListenerProtocol.

Strict readings of UNCONFIRMED points, with their switches (EmulatorConfig.product_options["alb"]):
* ``bare_id`` (False): a bare CAS id without the region suffix is refused (InvalidParameter);
* ``cas_in_use`` (True): CAS refuses to delete a certificate a listener uses (CertificateInUse);
* ``job_seconds`` (0.3): how long a job runs.
"""

import datetime
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from ..errors import CATALOGUE, ApiError, invalid
from ..state import utcnow
from .base import Action, Context, Params, Product, iso_z

KEY = "alb"
OPTIONS = {"bare_id": False, "cas_in_use": True, "job_seconds": 0.3}
MAX_ADDITIONAL = 25
MAX_DISSOCIATE = 20
_GLOBAL_ID = re.compile(r"^(\d+)-([a-z0-9-]+)$")

CATALOGUE.update({
    "IncorrectStatus.Listener": (400, "The status of the listener is incorrect."),
    "ResourceNotFound.Listener": (404, "The specified listener does not exist."),                 # [assumed]
    "ResourceNotFound.Certificate": (404, "The specified certificate does not exist."),           # [assumed]
    "ResourceAlreadyAssociated.Certificate": (400, "The certificate is already associated."),     # [assumed]
    "ResourceNotAssociated.Certificate": (400, "The certificate is not associated."),             # [assumed]
    "QuotaExceeded.ListenerCertificatesNum": (400, "At most 25 additional certificates."),        # [assumed]
    "OperationDenied.ListenerProtocol": (400, "The listener protocol does not take certificates."),  # [assumed]
})


@dataclass
class Job:
    job_id: str
    api_name: str
    listener_id: str
    created: datetime.datetime
    done_at: float
    apply: Callable[[], None]
    status: str = "Processing"


@dataclass
class AlbListener:
    listener_id: str
    region: str
    protocol: str = "HTTPS"
    port: int = 443
    default_cert: str = ""                                 # global CAS id
    additional: Dict[str, str] = field(default_factory=dict)   # global CAS id -> Associating/Associated/...
    busy_until: float = 0.0

    @property
    def status(self) -> str:
        return "Configuring" if time.monotonic() < self.busy_until else "Running"


@dataclass
class AlbState:
    listeners: Dict[str, AlbListener] = field(default_factory=dict)
    jobs: Dict[str, Job] = field(default_factory=dict)
    cas_in_use: bool = True


def state_of(state) -> AlbState:
    """The ALB part of the emulator state (created, with its CAS hook, on first use)."""
    with state.lock:
        if KEY not in state.extra:
            state.extra[KEY] = AlbState()
            state.cas_users.append(lambda stored, s=state: _cas_users(s, stored))
        return state.extra[KEY]


def _cas_users(state, stored):
    alb = state.extra[KEY]
    ident = "%d-%s" % (stored.cert_id, stored.site)
    return ["alb listener " + lsn.listener_id for lsn in alb.listeners.values()
            if alb.cas_in_use and (lsn.default_cert == ident or ident in lsn.additional)]


def _opt(ctx, name):
    return ctx.config.option(KEY, name, OPTIONS)


def settle(alb: AlbState) -> None:
    """Finish the jobs whose time has come: their change shows from now on."""
    now = time.monotonic()
    for job in alb.jobs.values():
        if job.status == "Processing" and now >= job.done_at:
            job.apply()
            job.status = "Succeeded"


def _listener(ctx, params) -> AlbListener:
    alb = state_of(ctx.state)
    settle(alb)
    listener_id = params.require("ListenerId")
    listener = alb.listeners.get(listener_id)
    if listener is None or listener.region != (params.get("RegionId") or "cn-hangzhou"):
        raise ApiError("ResourceNotFound.Listener", "The specified resource %s is not found." % listener_id)
    return listener


def _writable(ctx, params) -> AlbListener:
    listener = _listener(ctx, params)
    if listener.status != "Running":
        raise ApiError("IncorrectStatus.Listener", "The status of %s [%s] is incorrect."
                       % (listener.listener_id, listener.status))
    if listener.protocol not in ("HTTPS", "QUIC"):
        raise ApiError("OperationDenied.ListenerProtocol")
    return listener


def _cert_ids(ctx, params, limit) -> List[str]:
    """Certificates.N.CertificateId, N = 1.., each a CAS certificate that exists."""
    ids = []
    n = 1
    while params.get("Certificates.%d.CertificateId" % n):
        ids.append(params.get("Certificates.%d.CertificateId" % n))
        n += 1
    if not ids:
        params.require("Certificates.1.CertificateId")
    if len(ids) > limit:
        raise invalid("Certificates", "At most %d certificates per call." % limit)
    for ident in ids:
        m = _GLOBAL_ID.match(ident)
        if m is None and not (_opt(ctx, "bare_id") and ident.isdigit()):
            raise invalid("Certificates.N.CertificateId", "Give the global id <CertId>-<region>.")
        cert_id, site = (int(m.group(1)), m.group(2)) if m else (int(ident), "cn-hangzhou")
        if ctx.state.certs.get(site, cert_id) is None:
            raise ApiError("ResourceNotFound.Certificate", "The certificate %s is not found." % ident)
    return ids


def _start_job(ctx, listener: AlbListener, api_name: str, apply: Callable[[], None]) -> dict:
    alb = state_of(ctx.state)
    alb.cas_in_use = _opt(ctx, "cas_in_use")
    delay = float(_opt(ctx, "job_seconds"))
    job = Job(uuid.uuid4().hex, api_name, listener.listener_id, utcnow(), time.monotonic() + delay, apply)
    listener.busy_until = job.done_at
    alb.jobs[job.job_id] = job
    return {"JobId": job.job_id}


# --- writes ---------------------------------------------------------------------------------------------

def update_listener_attribute(ctx: Context, params: Params) -> dict:
    listener = _writable(ctx, params)
    certs = _cert_ids(ctx, params, 1) if params.get("Certificates.1.CertificateId") else None

    def apply():
        if certs:
            listener.default_cert = certs[0]
    return _start_job(ctx, listener, "UpdateListenerAttribute", apply)


def associate_additional(ctx: Context, params: Params) -> dict:
    listener = _writable(ctx, params)
    certs = _cert_ids(ctx, params, MAX_ADDITIONAL)
    if any(c in listener.additional for c in certs):
        raise ApiError("ResourceAlreadyAssociated.Certificate")
    if len(listener.additional) + len(certs) > MAX_ADDITIONAL:
        raise ApiError("QuotaExceeded.ListenerCertificatesNum")
    listener.additional.update({c: "Associating" for c in certs})

    def apply():
        listener.additional.update({c: "Associated" for c in certs})
    return _start_job(ctx, listener, "AssociateAdditionalCertificatesWithListener", apply)


def dissociate_additional(ctx: Context, params: Params) -> dict:
    listener = _writable(ctx, params)
    certs = _cert_ids(ctx, params, MAX_DISSOCIATE)
    if any(c not in listener.additional for c in certs):
        raise ApiError("ResourceNotAssociated.Certificate")
    listener.additional.update({c: "Diassociating" for c in certs})

    def apply():
        for c in certs:
            listener.additional.pop(c, None)
    return _start_job(ctx, listener, "DissociateAdditionalCertificatesFromListener", apply)


# --- reads ----------------------------------------------------------------------------------------------

def get_listener_attribute(ctx: Context, params: Params) -> dict:
    listener = _listener(ctx, params)
    return {"ListenerId": listener.listener_id, "ListenerProtocol": listener.protocol,
            "ListenerPort": listener.port, "ListenerStatus": listener.status, "LoadBalancerId": "alb-emulator",
            "Certificates": [{"CertificateId": listener.default_cert}] if listener.default_cert else [],
            "CaCertificates": [], "CaEnabled": False, "Http2Enabled": True, "GzipEnabled": True,
            "IdleTimeout": 15, "RequestTimeout": 60, "SecurityPolicyId": "tls_cipher_policy_1_0",
            "DefaultActions": [{"Type": "ForwardGroup"}]}


def list_listener_certificates(ctx: Context, params: Params) -> dict:
    listener = _listener(ctx, params)
    size = params.integer("MaxResults", 20, minimum=1, maximum=100)
    start = params.integer("NextToken", 0, minimum=0)
    ctype = params.get("CertificateType", "Server")
    if ctype not in ("Server", "Ca"):
        raise invalid("CertificateType")
    items = []
    if ctype == "Server":
        if listener.default_cert:
            items.append({"CertificateId": listener.default_cert, "IsDefault": True, "Status": "Associated",
                          "CertificateType": "Server"})
        items += [{"CertificateId": c, "IsDefault": False, "Status": s, "CertificateType": "Server"}
                  for c, s in listener.additional.items()]
    shown = items[start:start + size]
    token = str(start + size) if start + size < len(items) else ""
    return {"Certificates": shown, "TotalCount": len(items), "MaxResults": size, "NextToken": token}


def list_asyn_jobs(ctx: Context, params: Params) -> dict:
    alb = state_of(ctx.state)
    settle(alb)
    wanted = []
    n = 1
    while params.get("JobIds.%d" % n):
        wanted.append(params.get("JobIds.%d" % n))
        n += 1
    jobs = [alb.jobs[j] for j in wanted if j in alb.jobs] if wanted else list(alb.jobs.values())
    return {"Jobs": [{"Id": j.job_id, "ApiName": j.api_name, "Status": j.status, "ResourceId": j.listener_id,
                      "ResourceType": "listener", "OperateType": "Update", "CreateTime": iso_z(j.created),
                      "ErrorCode": "", "ErrorMessage": ""} for j in jobs],
            "TotalCount": len(jobs), "MaxResults": 20, "NextToken": ""}


def _listener_target(state, params):
    return ((params.get("ListenerId") or "").lower(),)


PRODUCT = Product(
    code="Alb", version="2020-06-16", host="alb.cn-hangzhou.aliyuncs.com", dotted_missing=False,
    actions={a.name: a for a in (
        Action("UpdateListenerAttribute", update_listener_attribute, write=True, targets=_listener_target),
        Action("AssociateAdditionalCertificatesWithListener", associate_additional, write=True,
               targets=_listener_target),
        Action("DissociateAdditionalCertificatesFromListener", dissociate_additional, write=True,
               targets=_listener_target),
        Action("GetListenerAttribute", get_listener_attribute),
        Action("ListListenerCertificates", list_listener_certificates),
        Action("ListAsynJobs", list_asyn_jobs),
    )},
    # [assumed]: no documented figures; the same conservative limits the tool assumes
    qps={"UpdateListenerAttribute": 5, "AssociateAdditionalCertificatesWithListener": 5,
         "DissociateAdditionalCertificatesFromListener": 5, "GetListenerAttribute": 20,
         "ListListenerCertificates": 20, "ListAsynJobs": 20},
)


# --- seeding and inspection (tests, demo) ---------------------------------------------------------------

class AlbAdmin:
    """Seed and read ALB state of an Emulator: ``AlbAdmin(emu).add_listener("lsn-1")``."""

    def __init__(self, emu) -> None:
        self._state = emu._state
        self.alb = state_of(self._state)
        self.alb.cas_in_use = emu.config.option(KEY, "cas_in_use", OPTIONS)

    def add_listener(self, listener_id: str, region: str = "cn-hangzhou", protocol: str = "HTTPS",
                     default_cert: str = "", additional: Tuple[str, ...] = ()) -> AlbListener:
        """A listener; certificates by CAS global id (``"<CertId>-cn-hangzhou"``)."""
        with self._state.lock:
            lsn = AlbListener(listener_id, region, protocol, default_cert=default_cert,
                              additional={c: "Associated" for c in additional})
            self.alb.listeners[listener_id] = lsn
        return lsn

    def listener(self, listener_id: str) -> dict:
        """default (global id), additional ({id: status}), status — after settling finished jobs."""
        with self._state.lock:
            settle(self.alb)
            lsn = self.alb.listeners[listener_id]
            return {"default": lsn.default_cert, "additional": dict(lsn.additional), "status": lsn.status}

    def jobs(self) -> List[dict]:
        with self._state.lock:
            return [{"id": j.job_id, "api": j.api_name, "listener": j.listener_id, "status": j.status}
                    for j in self.alb.jobs.values()]

    def wait_idle(self, timeout: float = 10.0) -> Optional[bool]:
        """Let every job finish (for tests that inspect state right after a write)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._state.lock:
                settle(self.alb)
                if all(j.status != "Processing" for j in self.alb.jobs.values()):
                    return True
            time.sleep(0.05)
        return False
