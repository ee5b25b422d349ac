"""The SSL Certificates Service (cas 2020-04-07) as the upload hub.

A certificate is uploaded once and referenced by id wherever a product takes a CAS
reference (CDN and DCDN with CertType=cas). Before uploading we look for an existing
upload of the same certificate: ListUserCertificateOrder (OrderType=UPLOAD, paged)
filtered by serial (CAS pads serials with a leading zero: stripped before comparing),
then the content compared by fingerprint, from the listing or from
GetUserCertificateDetail with CertFilter=true (the default answer carries the private
key; we never ask for it). CAS names are unique per account and at most 63
characters: ours is '<certificate name>-<yyyymmdd of expiry>-<serial prefix>'. A name
or content duplicate answer means the upload already exists: we find it; only a
different certificate under our name is a failure.

Clean-up deletes our superseded uploads (our name pattern for this certificate, another
serial) that no target serves any more; the deployer decides when that is safe.
"""

import binascii
import hashlib
import logging
import re
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Set

from cryptography.hazmat.primitives import serialization

from acme_aliyun.cloud.sdk import CloudClient, CloudError, Product
from acme_aliyun.pki import CertBundle
from acme_aliyun.targets.base import CasRef, merge_qps
from acme_aliyun.targets.served import DUPLICATE_CODES, Served, name_stem, parse_time, unique_cert_name

logger = logging.getLogger(__name__)

KEY = "cas"
SHOW_SIZE = 50
FIND_ATTEMPTS = 4          # a fresh upload may take a moment to show in the listing
FIND_DELAY = 1.0

FACTS = Product(
    KEY, "cas", "2020-04-07", "",
    # the site region decides the endpoint: the China site (cn-hangzhou) or the international one
    lambda region, intl: "cas.ap-southeast-1.aliyuncs.com" if region == "ap-southeast-1" else "cas.aliyuncs.com",
    merge_qps({"UploadUserCertificate": 100, "ListUserCertificateOrder": 10, "GetUserCertificateDetail": 100,
               "DeleteUserCertificate": 100}, {}),
    ram="yundun-cert",
)
RAM_PREFIX = "yundun-cert"


class CasError(CloudError):
    """The certificate could not be placed in CAS (a foreign certificate holds our name)."""


@dataclass(frozen=True)
class Entry:
    """One uploaded certificate as ListUserCertificateOrder shows it."""

    cert_id: int
    name: str
    serial: str              # leading zeros stripped, lower case
    fingerprints: frozenset  # whatever digests the listing gave, colons stripped, lower case


def cert_region(settings: object) -> str:
    """CertRegion for references: [aliyun] CertRegion, else by site."""
    explicit = getattr(settings, "cert_region", None)
    if explicit:
        return str(explicit)
    return "ap-southeast-1" if getattr(settings, "international", False) else "cn-hangzhou"


def _call(client: CloudClient, action: str, params: dict, write: bool, cached: bool = False) -> dict:
    """A CAS call to the site CDN/DCDN references point at ([aliyun] CertRegion), with that RegionId."""
    return client.call(KEY, action, params, write=write, region=cert_region(client.settings),
                       cached=cached)


def _serial(value: object) -> str:
    return str(value or "").replace(":", "").lower().lstrip("0")


def _digests(*values: object) -> frozenset:
    return frozenset(str(v).replace(":", "").lower() for v in values if v)


def _own_digests(bundle: CertBundle) -> Set[str]:
    der = bundle.cert.public_bytes(serialization.Encoding.DER)
    return {hashlib.sha256(der).hexdigest(), hashlib.sha1(der).hexdigest(),  # noqa: S324 - a fingerprint
            binascii.hexlify(hashlib.md5(der).digest()).decode()}  # noqa: S324


def uploads(client: CloudClient) -> Iterator[Entry]:
    """Every uploaded certificate, page by page (advancing by the items received)."""
    page, seen = 1, 0
    while True:
        data = _call(client, "ListUserCertificateOrder", {"OrderType": "UPLOAD", "CurrentPage": page,
                                                             "ShowSize": SHOW_SIZE}, write=False,
                     cached=True)    # one listing per run serves every certificate (cloud/listcache.py)
        items = data.get("CertificateOrderList") or []
        for item in items:
            cert_id = item.get("CertificateId") or item.get("CertId")
            if cert_id:
                yield Entry(int(cert_id), item.get("Name") or "", _serial(item.get("SerialNo")),
                            _digests(item.get("Fingerprint"), item.get("Sha2")))
        seen += len(items)
        if not items or seen >= int(data.get("TotalCount") or 0):
            return
        page += 1


def same_content(client: CloudClient, entry: Entry, bundle: CertBundle) -> bool:
    """Is this upload our certificate? Serial, then digest (from the listing or the key-less detail)."""
    if entry.serial != _serial(bundle.serial):
        return False
    digests = entry.fingerprints
    if not digests:
        data = _call(client, "GetUserCertificateDetail", {"CertId": entry.cert_id, "CertFilter": "true"},
                           write=False)
        digests = _digests(data.get("Fingerprint"), data.get("CertSha2"), data.get("Sha2"))
    return bool(digests & _own_digests(bundle)) if digests else True


def find(client: CloudClient, bundle: CertBundle) -> Optional[Entry]:
    """Our certificate's existing upload, if there is one."""
    for entry in uploads(client):
        if same_content(client, entry, bundle):
            return entry
    return None


def ensure(client: CloudClient, bundle: CertBundle, base: str) -> CasRef:
    """The CAS reference of this certificate, uploading it when it is not there yet."""
    region = cert_region(client.settings)
    found = find(client, bundle)
    if found is not None:
        return CasRef(found.cert_id, found.name, region)
    name = unique_cert_name(base, bundle)
    try:
        data = _call(client, "UploadUserCertificate", {"Name": name, "Cert": bundle.fullchain_pem,
                                                          "Key": bundle.key_pem}, write=True)
        return CasRef(int(data["CertId"]), name, region)
    except CloudError as e:
        if not _duplicate(e):
            raise
        dup = e
    for attempt in range(FIND_ATTEMPTS):       # the upload exists (a retried call, or another name)
        found = find(client, bundle)
        if found is not None:
            return CasRef(found.cert_id, found.name, region)
        time.sleep(FIND_DELAY * (attempt + 1))
    raise CasError(dup.code, "the name %s is taken by another certificate in CAS" % name,
                   dup.http_status, dup.request_id, "UploadUserCertificate")


def _duplicate(err: CloudError) -> bool:
    """A name or content duplicate (codes vary and are partly unconfirmed: NameRepeat, *.Duplicated)."""
    code = (err.code or "").lower()
    return err.code in DUPLICATE_CODES or any(w in code for w in ("duplicat", "exist", "repeat"))


def ours_pattern(base: str) -> "re.Pattern[str]":
    """The names unique_cert_name gives this certificate's uploads, whatever the serial."""
    return re.compile("^%s-[0-9]{8}-[0-9a-f]{1,8}$" % re.escape(name_stem(base)))


def superseded(client: CloudClient, base: str, bundle: CertBundle) -> List[Entry]:
    """Our uploads of this certificate name with another serial (by our name pattern)."""
    pattern = ours_pattern(base)
    serial = _serial(bundle.serial)
    return [e for e in uploads(client) if e.serial != serial and pattern.match(e.name)]


def delete(client: CloudClient, entries: Iterable[Entry], served_ids: Set[int], served_names: Set[str]) -> List[int]:
    """Delete the entries no target serves; the ids deleted (a refusal leaves one in place)."""
    gone = []
    for entry in entries:
        if entry.cert_id in served_ids or entry.name in served_names:
            continue
        try:
            _call(client, "DeleteUserCertificate", {"CertId": entry.cert_id}, write=True)
            gone.append(entry.cert_id)
        except CloudError as e:
            logger.info("CAS certificate %s (%s) kept: %s", entry.cert_id, entry.name, e.code)
    return gone


def probe_write(client: CloudClient, bundle: CertBundle, name: str) -> str:
    """Upload a throwaway certificate and delete it: proves the write permission."""
    data = _call(client, "UploadUserCertificate", {"Name": name, "Cert": bundle.fullchain_pem,
                                                      "Key": bundle.key_pem}, write=True)
    cert_id = int(data["CertId"])
    _call(client, "DeleteUserCertificate", {"CertId": cert_id}, write=True)
    return "uploaded and deleted a test certificate (id %d)" % cert_id


def throwaway_bundle() -> CertBundle:
    """A self-signed one-day certificate for the write probe (never deployed anywhere)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme-aliyun-check.invalid")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("acme-aliyun-check.invalid")]), False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return CertBundle.from_pems(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem)


# --- a referenced certificate, by id (for targets whose reads name only the CAS id) ----------------

NOT_FOUND_CODES = ("NotFound", "CertificateNotFound", "InvalidParameter.CertId")


def detail_served(client: CloudClient, cert_id: int, region: str) -> Served:
    """What CAS certificate `cert_id` of site `region` is: name, expiry, serial, names (the key-less
    detail, CertFilter=true). A certificate CAS does not know (deleted, another account) is answered
    with its id only; other failures raise CloudError."""
    try:
        data = client.call(KEY, "GetUserCertificateDetail", {"CertId": cert_id, "CertFilter": "true"},
                           write=False, region=region)
    except CloudError as e:
        if e.code not in NOT_FOUND_CODES:
            raise
        return Served("CAS certificate %s-%s" % (cert_id, region), cert_id=cert_id, cert_region=region)
    names = [n.strip().lower() for n in str(data.get("Sans") or "").split(",") if n.strip()]
    common = str(data.get("Common") or "").strip().lower()
    names = names or ([common] if common else [])
    serial = _serial(data.get("SerialNo"))
    return Served(data.get("Name") or None, parse_time(data.get("NotAfter")) or parse_time(data.get("EndDate")),
                  serial or None, cert_id=cert_id, cert_region=region, names=tuple(names))
