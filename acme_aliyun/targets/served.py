"""What a target serves, as the products report it, and how we recognise our own.

Served is the common shape of a target's current certificate. The CertName we
upload under encodes the certificate's expiry date and serial prefix
(<name>-<yyyymmdd>-<serial[:8]>), so a read that returns only a name and a date
still tells whether the certificate is ours. A read that returns a digest of the
certificate instead (a fingerprint, with no PEM and no name of ours) is judged by
that digest.
"""

import datetime
import hashlib
import itertools
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acme_aliyun import pki
from acme_aliyun.cloud.sdk import CloudError
from acme_aliyun.pki import CertBundle

MAX_CERT_NAME = 63            # CAS names: at most 63 characters, and CDN/DCDN uploads land in CAS
_SUFFIX = re.compile(r"-(\d{8})-([0-9a-f]{1,8})$")
_UTC = datetime.timezone.utc
T = TypeVar("T")
_counter = itertools.count(1)
_counter_lock = threading.Lock()


def unique_cert_name(base: Optional[str], bundle: CertBundle) -> str:
    """<base>-<yyyymmdd of notAfter>-<first 8 hex of serial>, at most 63 characters."""
    return "%s-%s-%s" % (name_stem(base), bundle.not_after.strftime("%Y%m%d"), bundle.serial.lower()[:8])


def name_stem(base: Optional[str]) -> str:
    """The part of unique_cert_name that comes from the certificate's name (same for every serial)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base or "cert").strip("-.") or "cert"
    return base[:MAX_CERT_NAME - len("-yyyymmdd-12345678")]


def direct_name(kind: str, bundle: CertBundle) -> str:
    """'<kind>-<unique>-<yyyymmdd>-<serial8>': a name no other upload uses, still carrying the
    expiry and serial evidence name_evidence() reads (direct mode: one name per call)."""
    with _counter_lock:
        n = next(_counter)
    unique = "%x%x" % (int(time.time() * 1000), n)
    return "%s-%s-%s-%s" % (kind, unique, bundle.not_after.strftime("%Y%m%d"), bundle.serial.lower()[:8])


def name_evidence(cert_name: Optional[str], bundle: CertBundle) -> bool:
    """Does a CertName carry this certificate's expiry date and serial prefix?"""
    m = _SUFFIX.search(cert_name or "")
    return m is not None and m.group(1) == bundle.not_after.strftime("%Y%m%d") \
        and m.group(2) == bundle.serial.lower()[:8]


def parse_time(value: object) -> Optional[datetime.datetime]:
    """ISO 'Z' times, 'yyyy-MM-dd HH:mm:ss' (taken as UTC) and epoch milliseconds."""
    if value in (None, "", 0):
        return None
    if isinstance(value, (int, float)) or str(value).isdigit():
        return datetime.datetime.fromtimestamp(int(str(value)) / 1000.0, _UTC)
    text = str(value).strip().replace("Z", "").replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(text, fmt).replace(tzinfo=_UTC)
        except ValueError:
            continue
    return None


@dataclass
class Served:
    """A target's current certificate; fields are None where the product did not say."""

    cert_name: Optional[str] = None
    not_after: Optional[datetime.datetime] = None
    serial: Optional[str] = None       # from the served PEM, when the read returned one
    ssl_on: bool = True
    cert_id: Optional[int] = None      # the CAS certificate it references, when the read says
    cert_region: Optional[str] = None  # the CAS site region of that certificate, when the read says
    names: Tuple[str, ...] = ()        # the DNS names the served certificate covers, when the read says
    fingerprint: Optional[str] = None  # hex SHA-1 or SHA-256 of the served certificate (DER), when the
                                       # read gives a digest instead of the PEM (colons removed, lower case)
    # A target that holds several certificates side by side (a listener's SNI certificates): each
    # one, and the methods below judge the set (see the `candidates` notes on each method).
    candidates: Tuple["Served", ...] = ()

    @classmethod
    def from_pem(cls, pem: Optional[str], cert_name: Optional[str] = None,
                 not_after: Optional[datetime.datetime] = None, ssl_on: bool = True,
                 cert_id: Optional[int] = None, cert_region: Optional[str] = None) -> "Served":
        serial = None
        if pem and "BEGIN CERTIFICATE" in pem:
            try:
                cert = pki.load_cert_pem(pem)
                serial, not_after = pki.serial_hex(cert), pki.not_after(cert)
            except (ValueError, x509.InvalidVersion):
                pass
        return cls(cert_name or None, not_after, serial, ssl_on, cert_id, cert_region)

    @property
    def empty(self) -> bool:
        if self.candidates:
            return False
        return not self.ssl_on or not (self.cert_name or self.serial or self.not_after)

    def every(self) -> Tuple["Served", ...]:
        """This reading and its candidates: every certificate the target holds."""
        return (self,) + self.candidates

    def is_ours(self, cert_name: Optional[str], bundle: CertBundle) -> bool:
        """Same certificate: the same fingerprint or serial; else our exact CertName or name evidence,
        either with the same expiry (a certificate someone uploaded under our name is not ours).
        With candidates: one of them is."""
        if self.candidates:
            return any(c.is_ours(cert_name, bundle) for c in self.candidates)
        if self.empty:
            return False
        if self.fingerprint:
            return self.fingerprint in digests(bundle)
        if self.serial:
            return self.serial.lower() == bundle.serial.lower()
        if (cert_name and self.cert_name == cert_name) or name_evidence(self.cert_name, bundle):
            return self.same_expiry(bundle)
        return False

    def same_expiry(self, bundle: CertBundle) -> bool:
        """The reading shows no expiry, or one within a day of the bundle's (products round dates)."""
        return self.not_after is None or abs((self.not_after - bundle.not_after).total_seconds()) < 86400

    def shows_upload(self, cert_name: str, bundle: CertBundle) -> bool:
        """A listing (CertName and dates, no PEM) shows our upload: our exact CertName, which
        encodes this certificate's expiry date and serial prefix, and the same expiry."""
        if self.candidates:
            return any(c.shows_upload(cert_name, bundle) for c in self.candidates)
        if self.empty or self.cert_name != cert_name or not name_evidence(cert_name, bundle):
            return False
        if self.serial and self.serial.lower() != bundle.serial.lower():
            return False
        return self.same_expiry(bundle)

    def outlives(self, bundle: CertBundle) -> bool:
        """Does the deployed certificate expire later than the bundle's (by more than a minute)?
        With candidates: does one for names the bundle covers (one it would supersede)?"""
        if self.candidates:
            return any(c.names and all(bundle.covers(n) for n in c.names) and c.outlives(bundle)
                       for c in self.candidates)
        return (not self.empty and self.not_after is not None
                and (self.not_after - bundle.not_after).total_seconds() > 60)


def digests(bundle: CertBundle) -> "set[str]":
    """The hex SHA-1 and SHA-256 of the certificate's DER (how products show a fingerprint)."""
    der = bundle.cert.public_bytes(serialization.Encoding.DER)
    return {hashlib.sha1(der).hexdigest(), hashlib.sha256(der).hexdigest()}  # noqa: S324 - a fingerprint


DUPLICATE_CODES = ("Certificate.Duplicated", "CertificateContent.Duplicated", "CertNameAlreadyExists")


WRITE_WORKERS = 4


def write_each(targets: List[T], send: Callable[[T], None], read_one: Callable[[T], "Served"],
               cert_name: str, bundle: CertBundle, workers: int = WRITE_WORKERS) -> Dict[T, Optional[CloudError]]:
    """send(target) for each target, `workers` at a time (the client paces them); per target
    None or the error.

    A duplicate-name/content answer (a retried upload that had in fact succeeded)
    counts as success when the target reads back as serving this certificate.
    """
    def one(t: T) -> Optional[CloudError]:
        try:
            send(t)
            return None
        except CloudError as e:
            if e.code in DUPLICATE_CODES:
                try:
                    if read_one(t).is_ours(cert_name, bundle):
                        return None
                except CloudError:
                    pass
            return e

    if workers <= 1 or len(targets) <= 1:
        return {t: one(t) for t in targets}
    with ThreadPoolExecutor(max_workers=min(workers, len(targets))) as pool:
        return dict(zip(targets, pool.map(one, targets)))


def in_parallel(fn: Callable[[T], object], items: List[T], workers: int = WRITE_WORKERS) -> list:
    """[fn(item) for item in items], `workers` at a time (per-target reads of a kind that has no
    bulk listing; the client paces them)."""
    if workers <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


Deployed = Served    # the name the cloud layer used before the targets package
