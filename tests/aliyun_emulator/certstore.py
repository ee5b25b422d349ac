"""The account's certificates as the SSL Certificates Service (CAS) holds them, and the one name registry.

Why one store: a CDN or DCDN upload with ``CertType=upload`` lands in CAS, so CAS uploads, CDN uploads
and DCDN uploads share one namespace of certificate names, unique per account (issue 11). There is
no exception for a reused name with identical content: no document supports one. Identical content
under a new name is refused too while ``EmulatorConfig.refuse_duplicate_content`` is on.

Certificates live in a CAS site region: ``cn-hangzhou`` (China site, cas.aliyuncs.com) or
``ap-southeast-1`` (international site). CDN/DCDN uploads go to the China site. Names (and the content
check) are account-wide across both sites unless ``EmulatorConfig.cas_names_per_site`` relaxes that.

A refusal raises ApiError with the code the calling product answers (``codes``: {"name": ..,
"content": ..}); nothing is stored then. Private keys are kept (the real service keeps them); nothing
here is logged.
"""

import datetime
import secrets
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from .certs import UploadedCert
from .errors import ApiError

SITES = ("cn-hangzhou", "ap-southeast-1")


@dataclass
class StoredCert:
    """One certificate in CAS."""
    cert_id: int
    name: str
    site: str                 # CAS site region
    upload: UploadedCert
    source: str               # "cas" (UploadUserCertificate), "cdn" or "dcdn" (CertType=upload), "seed"
    resource_id: str
    created_at: datetime.datetime

    @property
    def identifier(self) -> str:
        """CertIdentifier: ``<CertId>-<site region>``."""
        return "%d-%s" % (self.cert_id, self.site)

    def snapshot(self) -> dict:
        u = self.upload
        return {"cert_id": self.cert_id, "name": self.name, "site": self.site, "source": self.source,
                "resource_id": self.resource_id, "cert_pem": u.pem, "key_pem": u.key_pem, "serial": u.serial,
                "fingerprint": u.fingerprint, "not_before": u.not_before, "not_after": u.not_after,
                "common_name": u.common_name, "dns_names": list(u.dns_names), "created_at": self.created_at}


class CertStore:
    """Certificates by id, with the account-wide name (and content) uniqueness rules."""

    def __init__(self, new_id: Callable[[], str], names_per_site: bool = False):
        self._new_id = new_id
        self._per_site = names_per_site
        self._certs: Dict[int, StoredCert] = {}

    def add(self, name: str, upload: UploadedCert, site: str, source: str, codes: Dict[str, Optional[str]],
            force: bool = False, refuse_content: bool = True, now=None) -> StoredCert:
        """Store a new certificate under ``name`` or raise without changing anything.

        force (CDN batch ForceSet=1): a same-name certificate is replaced instead of refused.
        """
        same_name = [c for c in self._scope(site) if c.name == name]
        if same_name and not force:
            raise ApiError(codes["name"])
        if refuse_content and codes.get("content"):
            if any(c.upload.fingerprint == upload.fingerprint for c in self._scope(site) if c not in same_name):
                raise ApiError(codes["content"])
        for old in same_name:
            del self._certs[old.cert_id]
        return self._put(name, upload, site, source, now)

    def seed(self, name: str, upload: UploadedCert, site: str = "cn-hangzhou", source: str = "seed",
             now=None) -> StoredCert:
        """For seeding: the stored entry with this name and content, else a new one (ValueError if the
        name holds another certificate). No content check: seeds may share a certificate."""
        for cert in self._scope(site):
            if cert.name == name:
                if cert.upload.fingerprint != upload.fingerprint:
                    raise ValueError("certificate name %r is taken by another certificate" % name)
                return cert
        return self._put(name, upload, site, source, now)

    def _put(self, name, upload, site, source, now):
        cert_id = int(self._new_id())
        cert = StoredCert(cert_id, name, site, upload, source, "cas-upload-" + secrets.token_hex(3),
                          now or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0))
        self._certs[cert_id] = cert
        return cert

    def _scope(self, site):
        return [c for c in self._certs.values() if not self._per_site or c.site == site]

    def get(self, site: str, cert_id: int) -> Optional[StoredCert]:
        cert = self._certs.get(cert_id)
        return cert if cert is not None and cert.site == site else None

    def in_site(self, site: str) -> List[StoredCert]:
        """The site's certificates, oldest first."""
        return sorted((c for c in self._certs.values() if c.site == site), key=lambda c: c.cert_id)

    def delete(self, cert: StoredCert) -> None:
        self._certs.pop(cert.cert_id, None)
