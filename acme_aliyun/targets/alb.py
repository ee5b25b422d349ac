"""Alibaba Cloud ALB (Alb 2020-06-16) HTTPS listeners as deploy targets.

A target is "[region/]lsn-id" (the listener's default certificate, replaced) or
"[region/]lsn-id:additional" (the certificate joins the listener's additional, SNI,
certificates; our superseded one leaves them). Without a region, [aliyun] Region.

ALB takes only a certificate in the SSL Certificates Service, named by its global id
"<CertId>-<site region>" (by_reference). Reads: GetListenerAttribute (the default
certificate and the listener status), ListListenerCertificates (the additional ones);
expiry, serial and names come from CAS (GetUserCertificateDetail without the key).
Writes: UpdateListenerAttribute (Certificates.1.CertificateId), Associate- and
DissociateAdditionalCertificates(With|From)Listener. Every write starts an
asynchronous job: we wait for the listener to leave Configuring before writing, retry
IncorrectStatus.Listener / ResourceInConfiguring.Listener, and wait for the job
(ListAsynJobs) to succeed, each wait bounded (JOB_WAIT seconds).

Coverage: a listener has no domain of its own. In default mode the certificate must
cover the names of the default certificate it replaces (--force overrides); in
additional mode nothing is replaced, so there is nothing to check against. "Our
superseded" additional certificate: one whose CAS name carries this certificate's
name stem and another serial. A longer-lived additional certificate for names this one
covers makes the write pointless: refused (--force overrides).

The API calls' QPS limits are not documented: conservative ASSUMED limits below.
"""

import logging
import re
import time
import uuid
from typing import Dict, List, Optional

from acme_aliyun.cloud.sdk import CloudClient, CloudError, Product
from acme_aliyun.kinds import TargetStatus
from acme_aliyun.targets import cas
from acme_aliyun.targets.base import split_region
from acme_aliyun.targets.base import (CasRef, Marker, ParseDefaults, Reading, TargetKind, TargetSpec, Upload,
                                      WriteErrors, merge_qps)
from acme_aliyun.targets.served import Served, in_parallel, name_stem, write_each

logger = logging.getLogger(__name__)

_LISTENER = re.compile(r"^lsn-[a-z0-9]+$")
_CAS_ID = re.compile(r"^(\d+)-([a-z0-9-]+)$")
_SUFFIX = re.compile(r"-\d{8}-[0-9a-f]{1,8}$")
ADDITIONAL = "additional"
BUSY_CODES = ("IncorrectStatus.Listener", "ResourceInConfiguring.Listener")
JOB_WAIT = 120.0          # seconds a listener may stay Configuring / a job may run, per write
POLL_FIRST, POLL_MAX = 0.1, 2.0
DISSOCIATE_MAX = 20       # certificates per Dissociate call
PAGE = 100

FACTS = Product(
    "alb", "Alb", "2020-06-16", "",
    lambda region, intl: "alb.%s.aliyuncs.com" % ("cn-hangzhou" if region == "cn-hangzhou-finance" else region),
    # ASSUMED, not documented (the reference leaves ALB's QPS unconfirmed): conservative guesses,
    # the pacer's 75% margin applies on top.
    merge_qps({}, {"UpdateListenerAttribute": 5, "AssociateAdditionalCertificatesWithListener": 5,
                   "DissociateAdditionalCertificatesFromListener": 5, "GetListenerAttribute": 20,
                   "ListListenerCertificates": 20, "ListAsynJobs": 20}),
    regional=True, ram="alb",
)


def global_id(ref: CasRef) -> str:
    """The CAS certificate as ALB names it: '<CertId>-<site region>'."""
    return "%d-%s" % (ref.cert_id, ref.region)


class AlbKind(TargetKind):
    name = "alb"
    ini_key = "ALB"
    endpoint_key = "ALBEndpoint"
    facts = FACTS
    by_reference = True
    reads_each = True
    update_action = "UpdateListenerAttribute"
    associate_action = "AssociateAdditionalCertificatesWithListener"
    dissociate_action = "DissociateAdditionalCertificatesFromListener"

    # --- config -------------------------------------------------------------------------------

    def parse_item(self, item: str, defaults: ParseDefaults) -> TargetSpec:
        region, rest = split_region(item)
        listener, colon, mode = (p.strip() for p in rest.partition(":"))
        listener = listener.lower()
        if not _LISTENER.match(listener):
            raise ValueError("%r: an ALB listener id looks like lsn-0123abcd" % item)
        if colon and mode.lower() != ADDITIONAL:
            raise ValueError("%r: after the listener id only ':additional' is allowed" % item)
        scope = ADDITIONAL if colon else "default"
        target = (region + "/" if region else "") + listener + (":" + ADDITIONAL if colon else "")
        return TargetSpec(self.name, target, scope=scope, region=region or defaults.region)

    def names_to_cover(self, spec: TargetSpec, served: Optional[Served]) -> List[str]:
        """Default mode: the names of the default certificate it replaces; additional: none."""
        if spec.scope == ADDITIONAL or served is None:
            return []
        return list(served.names)

    # --- reads --------------------------------------------------------------------------------

    def read_many(self, client: CloudClient, specs: List[TargetSpec]) -> Dict[TargetSpec, Reading]:
        """Each listener read on its own, a few at a time (ALB lists listeners only by load
        balancer); CAS details shared between them."""
        cache: Dict[str, Served] = {}

        def one(spec: TargetSpec) -> Reading:
            try:
                return self._read(client, spec, cache)
            except CloudError as e:
                return e
            except _NotHttps as e:
                return Marker(TargetStatus.REFUSED, str(e))

        return dict(zip(specs, in_parallel(one, specs)))

    def read_one(self, client: CloudClient, spec: TargetSpec) -> Served:
        try:
            return self._read(client, spec, {})
        except _NotHttps as e:
            raise CloudError("IncorrectStatus.ListenerProtocol", str(e), action="GetListenerAttribute") from None

    def _read(self, client: CloudClient, spec: TargetSpec, cache: Dict[str, Served]) -> Served:
        attr = self.attribute(client, spec)
        if spec.scope != ADDITIONAL:
            default = [c.get("CertificateId") for c in attr.get("Certificates") or [] if c.get("CertificateId")]
            return self._cas(client, default[0], cache) if default else Served(ssl_on=False)
        extra = [self._cas(client, i, cache) for i in self.additional_ids(client, spec)]
        if not extra:
            return Served(ssl_on=False)
        return Served("%d additional certificate(s)" % len(extra), candidates=tuple(extra))

    def attribute(self, client: CloudClient, spec: TargetSpec) -> dict:
        """GetListenerAttribute of the spec's listener (an HTTP listener is _NotHttps)."""
        data = client.call(self.name, "GetListenerAttribute", {"ListenerId": _listener(spec)}, write=False,
                           region=spec.region)
        protocol = str(data.get("ListenerProtocol") or "HTTPS").upper()
        if protocol not in ("HTTPS", "QUIC"):
            raise _NotHttps("%s is an %s listener: it takes no certificate" % (_listener(spec), protocol))
        return data

    def additional_ids(self, client: CloudClient, spec: TargetSpec) -> List[str]:
        """The listener's additional (non-default) server certificates, by CAS global id."""
        out: List[str] = []
        token: Optional[str] = None
        while True:
            data = client.call(self.name, "ListListenerCertificates", {
                "ListenerId": _listener(spec), "CertificateType": "Server", "MaxResults": PAGE, "NextToken": token},
                write=False, region=spec.region)
            for item in data.get("Certificates") or []:
                if not _true(item.get("IsDefault")) and item.get("CertificateId") and \
                        item.get("Status") not in ("Diassociating", "Dissociating"):
                    out.append(item["CertificateId"])
            token = data.get("NextToken") or None
            if not token:
                return out

    def _cas(self, client: CloudClient, ident: str, cache: Dict[str, Served]) -> Served:
        if ident not in cache:
            m = _CAS_ID.match(ident)
            cache[ident] = cas.detail_served(client, int(m.group(1)), m.group(2)) if m else Served(ident)
        return cache[ident]

    # --- writes -------------------------------------------------------------------------------

    def write(self, client: CloudClient, specs: List[TargetSpec], upload: Upload) -> WriteErrors:
        """Per listener: wait until it is not configuring, write, wait for the job."""
        if upload.ref is None:
            err = CloudError("CasReferenceRequired", "ALB takes only a certificate in the SSL Certificates "
                             "Service, and none was found for this one (Upload = direct)")
            return {s: err for s in specs}
        return write_each(specs, lambda s: self._write_one(client, s, upload), lambda s: self.read_one(client, s),
                          upload.name_for(self.name), upload.bundle)

    def _write_one(self, client: CloudClient, spec: TargetSpec, upload: Upload) -> None:
        assert upload.ref is not None           # write() answers every spec with an error otherwise
        ident = global_id(upload.ref)
        if spec.scope != ADDITIONAL:
            self._job(client, spec, self.update_action, {"Certificates.1.CertificateId": ident})
            return
        held = self.additional_ids(client, spec)
        if ident not in held:
            self._job(client, spec, self.associate_action,
                      {"Certificates.1.CertificateId": ident})
        old = self._superseded(client, held, ident, upload)
        for i in range(0, len(old), DISSOCIATE_MAX):
            params = {"Certificates.%d.CertificateId" % (n + 1): c for n, c in enumerate(old[i:i + DISSOCIATE_MAX])}
            self._job(client, spec, self.dissociate_action, params)

    def _superseded(self, client: CloudClient, held: List[str], ident: str, upload: Upload) -> List[str]:
        """Our additional certificates of this name with another serial (by the CAS name's stem)."""
        stem = name_stem(_SUFFIX.sub("", upload.cert_name))
        pattern = re.compile("^%s-[0-9]{8}-[0-9a-f]{1,8}$" % re.escape(stem))
        cache: Dict[str, Served] = {}
        out = []
        for other in held:
            if other == ident:
                continue
            served = self._cas(client, other, cache)
            if served.cert_name and pattern.match(served.cert_name) and \
                    (served.serial or "") != upload.bundle.serial.lower():
                out.append(other)
        return out

    def _job(self, client: CloudClient, spec: TargetSpec, action: str, certs: Dict[str, str]) -> None:
        """One asynchronous write: listener ready, the call (retried while busy), its job done."""
        deadline = time.monotonic() + JOB_WAIT
        params = dict(certs, ListenerId=_listener(spec), ClientToken=uuid.uuid4().hex)
        self._wait_ready(client, spec, deadline)
        delay = POLL_FIRST
        while True:
            try:
                data = _call(client, action, params, spec)
                break
            except CloudError as e:
                if e.code not in BUSY_CODES or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(POLL_MAX, delay * 2)
        if data.get("JobId"):
            self._wait_job(client, spec, str(data["JobId"]), action, deadline)

    def _wait_ready(self, client: CloudClient, spec: TargetSpec, deadline: float) -> None:
        delay = POLL_FIRST
        while self.attribute(client, spec).get("ListenerStatus") in ("Configuring", "Provisioning"):
            if time.monotonic() + delay > deadline:
                raise CloudError("IncorrectStatus.Listener", "%s stayed Configuring for %.0f s"
                                 % (_listener(spec), JOB_WAIT), action="GetListenerAttribute")
            time.sleep(delay)
            delay = min(POLL_MAX, delay * 2)

    def _wait_job(self, client: CloudClient, spec: TargetSpec, job: str, action: str, deadline: float) -> None:
        delay = POLL_FIRST
        while True:
            data = _call(client, "ListAsynJobs", {"JobIds.1": job}, spec, write=False)
            jobs = [j for j in data.get("Jobs") or [] if str(j.get("Id")) == job]
            status = jobs[0].get("Status") if jobs else "Processing"
            if status == "Succeeded":
                return
            if status == "Failed":
                raise CloudError(jobs[0].get("ErrorCode") or "JobFailed",
                                 "job %s on %s failed: %s" % (job, _listener(spec), jobs[0].get("ErrorMessage") or ""),
                                 action=action)
            if time.monotonic() + delay > deadline:
                raise CloudError("JobTimeout", "job %s on %s still %s after %.0f s" % (
                    job, _listener(spec), status, JOB_WAIT), action=action)
            time.sleep(delay)
            delay = min(POLL_MAX, delay * 2)


class _NotHttps(Exception):
    """The listener exists but speaks HTTP."""


def _call(client: CloudClient, action: str, params: dict, spec: TargetSpec, write: bool = True) -> dict:
    return client.call("alb", action, params, write=write, region=spec.region)


def _listener(spec: TargetSpec) -> str:
    return spec.target.rpartition("/")[2].split(":")[0]


def _true(value: object) -> bool:
    return value is True or str(value).lower() == "true"


KIND = AlbKind()
