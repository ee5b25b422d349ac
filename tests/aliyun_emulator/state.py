"""The emulated account's resources: CDN and DCDN domains with their certificates, API Gateway groups
with bound custom domains, Alidns zones with records, and the certificates of the SSL Certificates
Service (certstore.CertStore, which also holds the account-wide certificate-name registry).

All access goes through ``State.lock`` (re-entrant). ``snapshot()`` methods return plain dicts for
tests. The state keeps private keys because the real cloud does; nothing here is ever logged.
"""

import datetime
import itertools
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .certs import UploadedCert
from .certstore import CertStore, StoredCert
from .lag import ListingLag


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def accelerated_name(domain: str) -> str:
    """How CDN/DCDN store an accelerated domain: lower case, a wildcard as ``.example.test`` (for seeding
    and test reads; API calls get no such mapping, so ``*.example.test`` there is not found)."""
    domain = domain.lower().rstrip(".")
    return domain[1:] if domain.startswith("*.") else domain


def epoch_ms(when):
    return int(when.timestamp() * 1000)


@dataclass
class DeployedCert:
    """A certificate attached to a CDN or DCDN domain."""
    name: str
    cert_id: str
    cert_type: str            # "upload" (PEM sent inline, stored in CAS too) or "cas" (set by CAS reference)
    region: str               # CAS site region of the certificate
    upload: UploadedCert
    updated_at: datetime.datetime

    @property
    def cas_key(self):
        """(CAS site region, CertId) of the certificate in the SSL Certificates Service."""
        return self.region, self.cert_id

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


@dataclass
class Role:
    """A RAM role STS may hand out credentials of (products/sts.py)."""
    arn: str
    max_session_s: int = 3600
    external_id: Optional[str] = None
    oidc_provider_arn: Optional[str] = None     # AssumeRoleWithOIDC: the provider it trusts
    oidc_token: Optional[str] = None            # ... and the token that provider's token file holds


class State:
    def __init__(self, names_per_site=False, listing_lag=0):
        self.lock = threading.RLock()
        self._ids = itertools.count(10000001)
        self.cdn = {}          # domain -> CdnDomain
        self.dcdn = {}         # domain -> CdnDomain
        self.api_groups = {}   # group id -> ApiGroup
        self.zones = {}        # zone -> DnsZone
        self.certs = CertStore(self.new_id, names_per_site)   # CAS certificates and the name registry
        self.lag = ListingLag(listing_lag)                     # bulk listings that trail writes
        self.roles = {}        # role ARN -> Role
        self.sts_issued = []   # dicts: action, role_arn, session, access_key_id, expires_at (STS clock)
        self.extra = {}        # product key/code -> the state a product module keeps itself
                               # (products/*.state_of, REST products)
        self.cas_users = []    # callables (StoredCert) -> names of other resources that reference it

    def resources_of(self, product_code: str) -> Optional[dict]:
        """The resources a product's writes change, for the listing lag (None: no listing lags)."""
        return {"Cdn": self.cdn, "dcdn": self.dcdn, "CloudAPI": self.api_groups}.get(product_code)

    def serving(self, stored: StoredCert) -> List[str]:
        """The CDN/DCDN domains (production or staging) whose certificate is the CAS entry ``stored``, and
        the resources of products that registered a ``cas_users`` hook (load balancer listeners)."""
        found = []
        for store in (self.cdn, self.dcdn):
            for domain in store.values():
                if any(d is not None and d.cas_key == (stored.site, str(stored.cert_id))
                       for d in (domain.cert, domain.staging_cert)):
                    found.append(domain.name)
        for users in self.cas_users:
            found.extend(users(stored))
        for extra in self.extra.values():          # products that keep their own state say what they serve
            found += extra.serving(stored) if hasattr(extra, "serving") else []
        return found

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
