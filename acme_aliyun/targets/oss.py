"""Object Storage Service bucket custom domains (CNAME) as deploy targets, through oss2.

A target is "[region/]bucket:domain"; without a region, [aliyun] Region (the bucket's
region: its endpoint oss-<region>.aliyuncs.com and the V4 signing scope). OSS takes a CAS
reference: PutCname (POST /?cname&comp=add) with CertId '<id>-<CAS region>', Force 'true'
(the string: oss2 sends str(True) = 'True', whose acceptance is unconfirmed) and the
PreviousCertId the domain had when one was set, read just before writing. Without a CAS
reference ([aliyun] Upload = direct) the PEM goes inline in the XML body and OSS creates
the CAS certificate itself. ListCname (GET /?cname) is the only read: every custom domain
of the bucket with its certificate's CAS id, validity and fingerprint (no PEM), so one
call per bucket reads all its targets, and the fingerprint says whether it is ours.
The transport is cloud.oss (oss2's V4 signing under our endpoint, pacing and retry rules).
"""

import datetime
import email.utils
import re
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import oss2

from acme_aliyun.cloud import oss as transport
from acme_aliyun.cloud.sdk import CloudClient, CloudError, Product
from acme_aliyun.kinds import TargetStatus
from acme_aliyun.targets.base import split_region, target_domain
from acme_aliyun.targets.base import (Marker, ParseDefaults, Probe, Reading, TargetKind, TargetSpec, Upload,
                                      WriteErrors, merge_qps)
from acme_aliyun.targets.served import Served, parse_time, write_each

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
NOT_BOUND = "CnameNotBound"       # our code: the bucket lists no such custom domain

FACTS = Product(
    "oss", "Oss", "", "",
    lambda region, intl: "oss-%s.aliyuncs.com" % region,
    # ASSUMED, not documented (the reference marks OSS QPS unconfirmed): a conservative 10/s each
    merge_qps({}, {"PutCname": 10, "ListCname": 10}),
    regional=True, ram="oss",
    # attaching a CAS certificate makes OSS read it from CAS with the caller's identity [D14]
    ram_extra=("yundun-cert:DescribeSSLCertificatePrivateKey", "yundun-cert:DescribeSSLCertificatePublicKeyDetail",
               "yundun-cert:CreateSSLCertificate"),
)

Listing = Dict[str, Served]


def _call(client: CloudClient, action: str, spec: TargetSpec, op: Callable[[Any], Any], write: bool = False) -> Any:
    return transport.call(client, FACTS.key, action, spec.region or client.settings.region, spec.scope or "", op,
                          write=write)


def _when(text: Optional[str]) -> Optional[datetime.datetime]:
    """OSS dates: RFC 1123 ('Wed, 15 Sep 2021 02:35:06 GMT'), else ISO or epoch ms."""
    if not text:
        return None
    try:
        return email.utils.parsedate_to_datetime(text).astimezone(datetime.timezone.utc)
    except (TypeError, ValueError):
        return parse_time(text)


def served_of(info: "oss2.models.CnameInfo") -> Served:
    """One ListCname entry as Served: the CAS id ('<id>-<region>'), expiry and fingerprint."""
    cert = getattr(info, "certificate", None)
    if cert is None or not (cert.cert_id or cert.fingerprint):
        return Served(ssl_on=False)
    number, _, region = (cert.cert_id or "").partition("-")
    fingerprint = (cert.fingerprint or "").replace(":", "").lower() or None
    return Served(cert.cert_id or None, _when(cert.valid_end_date), ssl_on=(cert.status or "Enabled") != "Disabled",
                  cert_id=int(number) if number.isdigit() else None, cert_region=region or None,
                  fingerprint=fingerprint)


class OssKind(TargetKind):
    name = "oss"
    ini_key = "OSS"
    endpoint_key = "OSSEndpoint"
    facts = FACTS
    by_reference = True

    def parse_item(self, item: str, defaults: ParseDefaults) -> TargetSpec:
        region, rest = split_region(item)
        bucket, colon, domain = rest.partition(":")
        bucket = bucket.strip()
        if not colon or not domain.strip():
            raise ValueError("%r: give bucket:domain (or region/bucket:domain)" % item)
        if not _BUCKET.match(bucket):
            raise ValueError("%r: %r is not a bucket name (3-63 of a-z, 0-9, '-')" % (item, bucket))
        domain = target_domain(domain, allow_wildcard=False)
        prefix = region + "/" if region else ""
        return TargetSpec(self.name, "%s%s:%s" % (prefix, bucket, domain), domain=domain, scope=bucket,
                          region=region or defaults.region)

    def read_bucket(self, client: CloudClient, spec: TargetSpec) -> Listing:
        """Every custom domain of the spec's bucket with the certificate it serves."""
        result = _call(client, "ListCname", spec, lambda b: b.list_bucket_cname())
        return {(c.domain or "").lower(): served_of(c) for c in result.cname if c.domain}

    def read_many(self, client: CloudClient, specs: List[TargetSpec]) -> Dict[TargetSpec, Reading]:
        """Each bucket listed once; a domain the bucket does not list is a failure naming both."""
        buckets = self._buckets(client, specs)
        out: Dict[TargetSpec, Reading] = {}
        for spec in specs:
            listing = buckets[(spec.region, spec.scope)]
            if isinstance(listing, CloudError):
                out[spec] = listing
            else:
                out[spec] = listing.get(spec.domain or "") or Marker(TargetStatus.FAILED, _not_bound(spec), NOT_BOUND)
        return out

    def _buckets(self, client: CloudClient, specs: List[TargetSpec]) -> Dict[Tuple, Union[Listing, CloudError]]:
        out: Dict[Tuple, Union[Listing, CloudError]] = {}
        for spec in specs:
            key = (spec.region, spec.scope)
            if key not in out:
                try:
                    out[key] = self.read_bucket(client, spec)
                except CloudError as e:
                    out[key] = e
        return out

    def read_one(self, client: CloudClient, spec: TargetSpec) -> Served:
        found = self.read_bucket(client, spec).get(spec.domain or "")
        if found is None:
            raise CloudError(NOT_BOUND, _not_bound(spec), action="ListCname (bucket %s)" % spec.scope)
        return found

    def write(self, client: CloudClient, specs: List[TargetSpec], upload: Upload) -> WriteErrors:
        """PutCname per domain (a few at a time), each with the CAS id it had just before."""
        buckets = self._buckets(client, specs)       # read before writing: PreviousCertId

        def send(spec: TargetSpec) -> None:
            listing = buckets[(spec.region, spec.scope)]
            if isinstance(listing, CloudError):
                raise listing
            now = listing.get(spec.domain or "")
            if now is None:
                raise CloudError(NOT_BOUND, _not_bound(spec), action="PutCname (bucket %s)" % spec.scope)
            request = oss2.models.PutBucketCnameRequest(spec.domain, cert_info(upload, now))
            _call(client, "PutCname", spec, lambda b: b.put_bucket_cname(request), write=True)

        return write_each(specs, send, lambda s: self.read_one(client, s), upload.name_for(self.name), upload.bundle)

    def probe(self, client: CloudClient, specs: List[TargetSpec]) -> List[Probe]:
        """One ListCname per bucket."""
        out, seen = [], set()
        for spec in specs:
            key = (spec.region, spec.scope)
            if key in seen:
                continue
            seen.add(key)
            label = spec.target.rsplit(":", 1)[0]
            try:
                n = len(self.read_bucket(client, spec))
                out.append(Probe(self.name, label, True, "%d custom domain(s)" % n))
            except CloudError as e:
                out.append(Probe(self.name, label, False, str(e)))
        return out


def cert_info(upload: Upload, now: Served) -> "oss2.models.CertInfo":
    """The CertificateConfiguration: the CAS id (or the PEM inline), Force 'true', PreviousCertId."""
    previous = now.cert_name if now.cert_id is not None else None
    if upload.ref is not None:
        return oss2.models.CertInfo(cert_id="%d-%s" % (upload.ref.cert_id, upload.ref.region),
                                    previous_cert_id=previous, force="true")
    return oss2.models.CertInfo(certificate=upload.bundle.fullchain_pem, private_key=upload.bundle.key_pem,
                                previous_cert_id=previous, force="true")


def _not_bound(spec: TargetSpec) -> str:
    return "%s is not a custom domain of bucket %s" % (spec.domain, spec.scope)


KIND = OssKind()
