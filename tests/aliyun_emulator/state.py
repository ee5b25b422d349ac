"""The emulated account's resources: CDN and DCDN domains with their certificates, API Gateway groups
with bound custom domains, Alidns zones with records, and the account-wide CertName registry.

All access goes through ``State.lock`` (re-entrant). ``snapshot()`` methods return plain dicts for
tests. The state keeps private keys because the real cloud does; nothing here is ever logged.
"""

import datetime
import itertools
import threading
from dataclasses import dataclass, field
from typing import Dict, Optional

from .certs import UploadedCert
from .errors import ApiError


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def epoch_ms(when):
    return int(when.timestamp() * 1000)


@dataclass
class DeployedCert:
    """A certificate attached to a CDN or DCDN domain."""
    name: str
    cert_id: str
    cert_type: str            # "upload"
    region: str
    upload: UploadedCert
    updated_at: datetime.datetime

    FIELDS = ("cert_name", "cert_id", "cert_type", "cert_region", "cert_pem", "key_pem", "serial", "fingerprint",
              "not_before", "not_after", "common_name", "dns_names", "updated_at")

    def snapshot(self):
        u = self.upload
        return dict(zip(self.FIELDS, (self.name, self.cert_id, self.cert_type, self.region, u.pem, u.key_pem,
                                      u.serial, u.fingerprint, u.not_before, u.not_after, u.common_name,
                                      list(u.dns_names), self.updated_at)))


@dataclass
class CdnDomain:
    """A CDN or DCDN accelerated domain."""
    name: str
    domain_id: int
    status: str               # online, offline, configuring, ...
    cdn_type: str
    created_at: datetime.datetime
    modified_at: datetime.datetime
    ssl: str = "off"          # ServerCertificateStatus / SSLProtocol
    cert: Optional[DeployedCert] = None
    staging_cert: Optional[DeployedCert] = None   # Env=staging uploads

    @property
    def cname(self):
        return self.name + ".w.kunlunsl.com"

    def snapshot(self):
        out = {"domain": self.name, "status": self.status, "ssl": self.ssl}
        out.update(self.cert.snapshot() if self.cert else dict.fromkeys(DeployedCert.FIELDS))
        out["staging"] = self.staging_cert.snapshot() if self.staging_cert else None
        return out


@dataclass
class ApiDomain:
    """A custom domain bound to an API Gateway group."""
    name: str
    cert_name: str = ""
    cert_id: str = ""
    upload: Optional[UploadedCert] = None

    def snapshot(self, group_id):
        u = self.upload
        return {"group_id": group_id, "domain": self.name, "cert_name": self.cert_name or None,
                "cert_id": self.cert_id or None,
                "cert_pem": u.pem if u else None, "key_pem": u.key_pem if u else None,
                "serial": u.serial if u else None, "fingerprint": u.fingerprint if u else None,
                "not_before": u.not_before if u else None, "not_after": u.not_after if u else None}


@dataclass
class ApiGroup:
    group_id: str
    name: str
    region: str
    created_at: datetime.datetime
    domains: Dict[str, ApiDomain] = field(default_factory=dict)

    @property
    def sub_domain(self):
        return "%s-%s.alicloudapi.com" % (self.group_id, self.region)


@dataclass
class DnsRecord:
    record_id: str
    zone: str
    rr: str
    type: str
    value: str
    ttl: int
    line: str
    priority: Optional[int]
    created_ms: int

    @property
    def host(self):
        """The record's FQDN without the trailing dot."""
        return self.zone if self.rr == "@" else "%s.%s" % (self.rr, self.zone)

    def snapshot(self):
        return {"record_id": self.record_id, "rr": self.rr, "type": self.type, "value": self.value,
                "ttl": self.ttl, "line": self.line, "priority": self.priority, "host": self.host}


@dataclass
class DnsZone:
    name: str
    domain_id: str
    created_at: datetime.datetime
    records: Dict[str, DnsRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class _NamedCert:
    fingerprint: str
    cert_id: str


class CertNames:
    """Account-wide CertName registry shared by CDN and DCDN uploads.

    Re-using a name with the identical certificate (same leaf) is accepted and yields the same CertId:
    retries and deploying one certificate to several domains stay idempotent. The same name with a
    different certificate is Certificate.Duplicated unless ForceSet replaces the registered one.
    """

    def __init__(self, new_id):
        self._new_id = new_id
        self._by_name = {}

    def claim(self, name, upload, force=False, content_duplicate_code=None):
        """Register ``name`` for ``upload`` and return its CertId, or raise without changing anything."""
        entry = self._by_name.get(name)
        if entry is not None and entry.fingerprint == upload.fingerprint:
            return entry.cert_id
        if entry is not None and not force:
            raise ApiError("Certificate.Duplicated")
        if content_duplicate_code and any(e.fingerprint == upload.fingerprint for e in self._by_name.values()):
            raise ApiError(content_duplicate_code)
        self._by_name[name] = _NamedCert(upload.fingerprint, self._new_id())
        return self._by_name[name].cert_id


class State:
    def __init__(self):
        self.lock = threading.RLock()
        self._ids = itertools.count(10000001)
        self.cdn = {}          # domain -> CdnDomain
        self.dcdn = {}         # domain -> CdnDomain
        self.api_groups = {}   # group id -> ApiGroup
        self.zones = {}        # zone -> DnsZone
        self.cert_names = CertNames(self.new_id)

    def new_id(self):
        """A fresh numeric id (as a string) for certificates, domains and DNS records."""
        with self.lock:
            return str(next(self._ids))

    def zone_of_record(self, record_id):
        for zone in self.zones.values():
            if record_id in zone.records:
                return zone
        return None

    def hosted_zone_for(self, fqdn):
        """The longest hosted zone that ``fqdn`` is in (or equals), or None."""
        fqdn = fqdn.lower().rstrip(".")
        labels = fqdn.split(".")
        for i in range(len(labels)):
            zone = self.zones.get(".".join(labels[i:]))
            if zone is not None:
                return zone
        return None
