"""Parse and check an uploaded certificate + private key the way the cloud does on a write.

``load_upload`` raises CertProblem(kind) with kind "format" (certificate PEM unreadable), "key"
(private key unreadable) or "mismatch" (key is not the certificate's); expiry and domain coverage are
separate checks (``expired``, ``covers``) because seeding may store an expired certificate on purpose.
"""

import datetime
import hashlib
import re
from dataclasses import dataclass
from typing import Tuple

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.S)


class CertProblem(Exception):
    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True)
class UploadedCert:
    pem: str                  # as uploaded (usually leaf + intermediates)
    leaf_pem: str             # the first PEM block of ``pem``, verbatim
    key_pem: str
    not_before: datetime.datetime   # aware, UTC
    not_after: datetime.datetime
    common_name: str
    dns_names: Tuple[str, ...]
    issuer_org: str
    serial: int
    fingerprint: str          # SHA-256 of the leaf DER, hex

    def expired(self, now=None):
        return (now or datetime.datetime.now(datetime.timezone.utc)) >= self.not_after

    def covers(self, domain):
        """True if a SAN (or, without SANs, the CN) matches ``domain``; '*.' matches one label, and a
        wildcard accelerated domain ``.example.test`` (CDN/DCDN naming) is covered by ``*.example.test``."""
        domain = domain.lower().rstrip(".")
        for name in self.dns_names or (self.common_name,):
            name = name.lower().rstrip(".")
            if name == domain:
                return True
            if name.startswith("*.") and "." in domain and domain.split(".", 1)[1] == name[2:]:
                return True
        return False


def load_upload(cert_pem, key_pem):
    blocks = _PEM_CERT.findall(cert_pem or "")
    if not blocks:
        raise CertProblem("format")
    try:
        certs = [x509.load_pem_x509_certificate(b.encode()) for b in blocks]
    except ValueError:
        raise CertProblem("format") from None
    leaf = certs[0]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        key = serialization.load_pem_private_key((key_pem or "").encode(), password=None)
        key_spki = key.public_key().public_bytes(*spki)
    except (ValueError, TypeError, UnsupportedAlgorithm):   # unreadable, encrypted or exotic key
        raise CertProblem("key") from None
    if key_spki != leaf.public_key().public_bytes(*spki):
        raise CertProblem("mismatch")
    return UploadedCert(
        pem=cert_pem,
        leaf_pem=blocks[0] + "\n",
        key_pem=key_pem,
        not_before=_utc(leaf, "not_valid_before"),
        not_after=_utc(leaf, "not_valid_after"),
        common_name=_attr(leaf.subject, NameOID.COMMON_NAME),
        dns_names=_dns_names(leaf),
        issuer_org=_attr(leaf.issuer, NameOID.ORGANIZATION_NAME),
        serial=leaf.serial_number,
        fingerprint=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


def _utc(cert, name):
    aware = getattr(cert, name + "_utc", None)   # cryptography >= 42
    return aware if aware is not None else getattr(cert, name).replace(tzinfo=datetime.timezone.utc)


def _attr(name, oid):
    values = name.get_attributes_for_oid(oid)
    return values[0].value if values else ""


def _dns_names(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(san.value.get_values_for_type(x509.DNSName))
