"""Alibaba Cloud CLB (classic load balancer, Slb 2014-05-15) HTTPS listeners as deploy targets.

A target is "[region/]lb-id:port" (the HTTPS listener's default certificate) or
"[region/]lb-id:port:domain" (that domain extension's certificate; the extension is
created when missing). Without a region, [aliyun] Region.

CLB serves "server certificates" of its own, per region. The certificate becomes one
by CAS reference where we have one (UploadServerCertificate with AliCloudCertificateId,
-Name and -RegionId), else inline (ServerCertificate + PrivateKey in the POST body).
Before uploading we reuse a server certificate of the region that already is this one
(the same CAS id, or the same fingerprint). Its name is our unique certificate name
('<name>-<yyyymmdd>-<serial prefix>', which also names a CAS upload) in both modes: CLB
names are not an account-wide registry. After the writes, our superseded server
certificates of the region (our name stem, another serial) are deleted; CLB refuses to
delete one a listener or domain extension still uses, and such a refusal keeps it.

Reads: DescribeLoadBalancerHTTPSListenerAttribute (default certificate),
DescribeDomainExtensions (the extensions' domains and certificates),
DescribeServerCertificates (all of a region's server certificates, unpaged: name,
expiry, names, CAS id). A CAS-referenced certificate's serial comes from CAS
(GetUserCertificateDetail without the key); an inline one is recognised by our name's
expiry and serial evidence. CLB returns no PEM.

Coverage: a domain extension must be covered by the certificate. A default listener
certificate has no configured domain: the certificate must cover the names of the one
it replaces (a listener serving nothing: nothing to check; --force overrides).

CLB's QPS limits are not documented: conservative ASSUMED limits below.
"""

import hashlib
import logging
import re
from typing import Dict, List, Optional, Tuple

from cryptography.hazmat.primitives import serialization

from acme_aliyun.cloud.sdk import CloudClient, CloudError, Product
from acme_aliyun.names import NameError_, normalize_domain
from acme_aliyun.targets import cas
from acme_aliyun.targets.base import split_region
from acme_aliyun.targets.base import ParseDefaults, Reading, TargetKind, TargetSpec, Upload, WriteErrors, merge_qps
from acme_aliyun.targets.served import Served, in_parallel, name_stem, parse_time, write_each

logger = logging.getLogger(__name__)

_LB = re.compile(r"^lb-[a-z0-9]+$")
_SUFFIX = re.compile(r"-\d{8}-[0-9a-f]{1,8}$")
IN_USE_CODES = ("CertificateAndPrivateKeyIsRefered", "CertificateRelatedDomainExtensionExist")
# regions the SDK's endpoint data sends to the central endpoint (aliyun-python-sdk-slb 3.3.22 endpoint.py)
CENTRAL = {"cn-hangzhou", "cn-hangzhou-finance", "cn-shanghai-finance-1", "cn-shenzhen-finance-1", "cn-beijing",
           "cn-qingdao", "cn-shanghai", "cn-hongkong", "cn-wuhan", "us-west-1", "cn-zhangbei", "cn-shenzhen",
           "ap-southeast-1", "us-east-1", "cn-fujian"}

FACTS = Product(
    "clb", "Slb", "2014-05-15", "",
    lambda region, intl: "slb.aliyuncs.com" if region in CENTRAL else "slb.%s.aliyuncs.com" % region,
    # ASSUMED, not documented (the reference leaves CLB's QPS unconfirmed): conservative guesses,
    # the pacer's 75% margin applies on top.
    merge_qps({}, {"UploadServerCertificate": 5, "DeleteServerCertificate": 5, "DescribeServerCertificates": 10,
                   "SetLoadBalancerHTTPSListenerAttribute": 5, "CreateDomainExtension": 5,
                   "SetDomainExtensionAttribute": 5, "DescribeLoadBalancerHTTPSListenerAttribute": 20,
                   "DescribeDomainExtensions": 20}),
    regional=True, ram="slb",
)


def server_cert_name(cert_name: str) -> str:
    """Our name as a CLB server certificate name (1-80 characters, starting with a letter)."""
    return cert_name if cert_name[:1].isalpha() else "c-" + cert_name


def _fingerprints(upload: Upload) -> set:
    der = upload.bundle.cert.public_bytes(serialization.Encoding.DER)
    return {hashlib.sha256(der).hexdigest(), hashlib.sha1(der).hexdigest()}  # noqa: S324 - a fingerprint


class ClbKind(TargetKind):
    name = "clb"
    ini_key = "CLB"
    endpoint_key = "CLBEndpoint"
    facts = FACTS
    by_reference = True
    reads_each = True

    # --- config -------------------------------------------------------------------------------

    def parse_item(self, item: str, defaults: ParseDefaults) -> TargetSpec:
        region, rest = split_region(item)
        parts = [p.strip() for p in rest.split(":")]
        if len(parts) not in (2, 3) or not _LB.match(parts[0].lower()):
            raise ValueError("%r: give lb-id:port or lb-id:port:domain" % item)
        if not parts[1].isdigit() or not 1 <= int(parts[1]) <= 65535:
            raise ValueError("%r: %r is not a listener port (1-65535)" % (item, parts[1]))
        lb, port = parts[0].lower(), str(int(parts[1]))
        domain = None
        if len(parts) == 3:
            try:
                domain = normalize_domain(parts[2], allow_wildcard=True)
            except NameError_ as e:
                raise ValueError("%r: %s" % (item, e)) from None
        target = (region + "/" if region else "") + ":".join([lb, port] + ([domain] if domain else []))
        return TargetSpec(self.name, target, domain=domain, scope="%s:%s" % (lb, port),
                          region=region or defaults.region)

    def names_to_cover(self, spec: TargetSpec, served: Optional[Served]) -> List[str]:
        """A domain extension: its domain; the default certificate: the names of the one it replaces."""
        if spec.domain:
            return [spec.domain]
        return list(served.names) if served is not None else []

    # --- reads --------------------------------------------------------------------------------

    def read_many(self, client: CloudClient, specs: List[TargetSpec]) -> Dict[TargetSpec, Reading]:
        """Per region one DescribeServerCertificates, per listener one or two reads (a few
        listeners at a time)."""
        out: Dict[TargetSpec, Reading] = {}
        certs: Dict[Optional[str], Dict[str, dict]] = {}
        for region in {s.region for s in specs}:
            try:
                certs[region] = self.server_certs(client, region)
            except CloudError as e:
                out.update({s: e for s in specs if s.region == region})
        cas_cache: Dict[Tuple[int, str], Served] = {}

        def one(spec: TargetSpec) -> Reading:
            try:
                return self._read(client, spec, certs[spec.region], cas_cache)
            except CloudError as e:
                return e

        todo = [s for s in specs if s not in out]
        out.update(zip(todo, in_parallel(one, todo)))
        return out

    def read_one(self, client: CloudClient, spec: TargetSpec) -> Served:
        return self._read(client, spec, None, {})

    def _read(self, client: CloudClient, spec: TargetSpec, certs: Optional[Dict[str, dict]],
              cas_cache: Dict[Tuple[int, str], Served]) -> Served:
        cert_id = self.bound_cert(client, spec)
        if not cert_id:
            return Served(ssl_on=False)
        if certs is None or cert_id not in certs:
            certs = self.server_certs(client, spec.region, cert_id)
        item = certs.get(cert_id)
        if item is None:
            return Served(cert_id)
        return self._served(client, item, cas_cache)

    def bound_cert(self, client: CloudClient, spec: TargetSpec) -> Optional[str]:
        """The ServerCertificateId the listener (or its domain extension) uses; None: none (or no extension)."""
        lb, port = (spec.scope or "").split(":")
        if not spec.domain:
            data = client.call(self.name, "DescribeLoadBalancerHTTPSListenerAttribute",
                               {"LoadBalancerId": lb, "ListenerPort": port}, write=False, region=spec.region)
            return data.get("ServerCertificateId") or None
        ext = self.extension(client, spec)
        return (ext or {}).get("ServerCertificateId") or None

    def extension(self, client: CloudClient, spec: TargetSpec) -> Optional[dict]:
        """The listener's domain extension for spec.domain, or None."""
        lb, port = (spec.scope or "").split(":")
        data = client.call(self.name, "DescribeDomainExtensions", {"LoadBalancerId": lb, "ListenerPort": port},
                           write=False, region=spec.region)
        for ext in (data.get("DomainExtensions") or {}).get("DomainExtension") or []:
            if (ext.get("Domain") or "").lower() == spec.domain:
                return ext
        return None

    def server_certs(self, client: CloudClient, region: Optional[str], cert_id: Optional[str] = None) -> Dict[str, dict]:
        """The region's server certificates by id (one of them, given cert_id)."""
        data = client.call(self.name, "DescribeServerCertificates",
                           {"ServerCertificateId": cert_id} if cert_id else {}, write=False, region=region)
        items = (data.get("ServerCertificates") or {}).get("ServerCertificate") or []
        return {str(i.get("ServerCertificateId")): i for i in items if i.get("ServerCertificateId")}

    def _served(self, client: CloudClient, item: dict, cas_cache: Dict[Tuple[int, str], Served]) -> Served:
        names = [n.strip().lower() for n in ((item.get("SubjectAlternativeNames") or {}).get(
            "SubjectAlternativeName") or []) if n.strip()] or [str(item.get("CommonName") or "").lower()]
        not_after = parse_time(item.get("ExpireTimeStamp")) or parse_time(item.get("ExpireTime"))
        served = Served(item.get("ServerCertificateName") or item.get("ServerCertificateId"), not_after,
                        names=tuple(n for n in names if n))
        if str(item.get("IsAliCloudCertificate")) == "1" and item.get("AliCloudCertificateId"):
            key = (int(item["AliCloudCertificateId"]), cas.cert_region(client.settings))
            if key not in cas_cache:
                cas_cache[key] = cas.detail_served(client, *key)
            served.cert_id, served.cert_region, served.serial = key[0], key[1], cas_cache[key].serial
        return served

    # --- writes -------------------------------------------------------------------------------

    def write(self, client: CloudClient, specs: List[TargetSpec], upload: Upload) -> WriteErrors:
        """Per region: the server certificate found or uploaded once, bound to each listener or
        domain extension, then our superseded server certificates deleted where unused."""
        result: WriteErrors = {}
        for region in sorted({s.region or "" for s in specs}):
            mine = [s for s in specs if (s.region or "") == region]
            try:
                cert_id, old = self._server_cert(client, region, upload)
            except CloudError as e:
                result.update({s: e for s in mine})
                continue
            result.update(write_each(mine, lambda s: self._bind(client, s, cert_id),
                                     lambda s: self.read_one(client, s), upload.name_for(self.name), upload.bundle))
            self._delete_unused(client, region, old)
        return result

    def _server_cert(self, client: CloudClient, region: str, upload: Upload) -> Tuple[str, List[str]]:
        """(the server certificate that is this one, found or uploaded; our superseded ones' ids)."""
        certs = self.server_certs(client, region)
        name = server_cert_name(upload.cert_name)
        stem = re.compile("^%s-[0-9]{8}-[0-9a-f]{1,8}$" % re.escape(
            server_cert_name(name_stem(_SUFFIX.sub("", upload.cert_name)))))
        prints = _fingerprints(upload)
        found = None
        for cid, item in certs.items():
            if _is_this(item, upload, prints):
                found = found or cid
        old = [cid for cid, item in certs.items() if cid != found and stem.match(item.get("ServerCertificateName") or "")
               and not _is_this(item, upload, prints)]
        if found:
            return found, old
        params: Dict[str, object] = {"ServerCertificateName": name}
        if upload.ref is not None:
            params.update(AliCloudCertificateId=upload.ref.cert_id, AliCloudCertificateName=upload.ref.name,
                          AliCloudCertificateRegionId=upload.ref.region)
        else:
            params.update(ServerCertificate=upload.bundle.fullchain_pem, PrivateKey=upload.bundle.key_pem)
        data = client.call(self.name, "UploadServerCertificate", params, write=True, region=region)
        return str(data["ServerCertificateId"]), old

    def _bind(self, client: CloudClient, spec: TargetSpec, cert_id: str) -> None:
        lb, port = (spec.scope or "").split(":")
        if not spec.domain:
            client.call(self.name, "SetLoadBalancerHTTPSListenerAttribute", {
                "LoadBalancerId": lb, "ListenerPort": port, "ServerCertificateId": cert_id}, write=True,
                region=spec.region)
            return
        ext = self.extension(client, spec)
        if ext is None:
            client.call(self.name, "CreateDomainExtension", {"LoadBalancerId": lb, "ListenerPort": port,
                                                              "Domain": spec.domain, "ServerCertificateId": cert_id},
                        write=True, region=spec.region)
        elif ext.get("ServerCertificateId") != cert_id:
            client.call(self.name, "SetDomainExtensionAttribute", {
                "DomainExtensionId": ext["DomainExtensionId"], "ServerCertificateId": cert_id}, write=True,
                region=spec.region)

    def _delete_unused(self, client: CloudClient, region: str, old: List[str]) -> None:
        for cert_id in old:
            try:
                client.call(self.name, "DeleteServerCertificate", {"ServerCertificateId": cert_id}, write=True,
                            region=region)
                logger.info("deleted superseded CLB server certificate %s (%s)", cert_id, region)
            except CloudError as e:
                level = logging.DEBUG if e.code in IN_USE_CODES else logging.INFO
                logger.log(level, "CLB server certificate %s kept: %s", cert_id, e.code)



def _is_this(item: dict, upload: Upload, prints: set) -> bool:
    """Is this server certificate the upload: the same CAS certificate, or the same content?"""
    if upload.ref is not None and str(item.get("IsAliCloudCertificate")) == "1":
        return str(item.get("AliCloudCertificateId")) == str(upload.ref.cert_id)
    return str(item.get("Fingerprint") or "").replace(":", "").lower() in prints


KIND = ClbKind()
