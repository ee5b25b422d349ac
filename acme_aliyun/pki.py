"""Keys, CSRs and certificates: create, load, inspect, compare. No network, no ACME."""

import datetime
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Iterable, List, Optional, Sequence, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from acme_aliyun.errors import UsageError
from acme_aliyun.fsio import atomic_write
from acme_aliyun.kinds import KEY_TYPES
from acme_aliyun.log import register_key

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]



class KeyFileError(UsageError):
    """A key, CSR or certificate file is missing, unreadable or not what it should be."""


def generate_key(key_type: str) -> PrivateKey:
    if key_type == "ec-256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise UsageError("unknown key type %r (use one of %s)" % (key_type, ", ".join(KEY_TYPES)))


def key_to_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM; registered with the log redactor, so that no piece of it is ever printed."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    register_key(pem)
    return pem


def write_private_key(path: str, key: PrivateKey) -> None:
    """Atomic write, mode 0600 from the first byte."""
    atomic_write(path, key_to_pem(key), mode=0o600)


def check_supported_key(key: Any, what: str = "key") -> PrivateKey:
    """Accept RSA 2048-4096, EC P-256 and P-384; refuse everything else with a reason."""
    if isinstance(key, rsa.RSAPrivateKey):
        if not 2048 <= key.key_size <= 4096:
            raise KeyFileError("%s: RSA key of %d bits; use 2048 to 4096" % (what, key.key_size))
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise KeyFileError("%s: EC curve %s not supported; use P-256 or P-384" % (what, key.curve.name))
        return key
    raise KeyFileError("%s: unsupported key type %s; use RSA or EC P-256/P-384" % (what, type(key).__name__))


def load_private_key(path: str, what: str = "key file") -> PrivateKey:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise KeyFileError("%s %s does not exist" % (what, path)) from None
    except PermissionError:
        from acme_aliyun.perms import permission_error
        raise KeyFileError("%s: %s" % (what, permission_error(path, "read"))) from None
    except OSError as e:
        raise KeyFileError("%s %s cannot be read: %s" % (what, path, e.strerror)) from None
    return parse_private_key(data, "%s %s" % (what, path))


def parse_private_key(data: bytes, what: str = "private key") -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError("%s is encrypted; give an unencrypted key" % what) from None
    except (ValueError, TypeError, Exception):
        try:
            key = serialization.load_der_private_key(data, password=None)
        except Exception:
            raise KeyFileError("%s is not a PEM private key" % what) from None
    register_key(data)
    key = check_supported_key(key, what)
    key_to_pem(key)             # the form the tool sends (PKCS#8) is registered too
    return key


def key_type_of(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa-%d" % key.key_size
    return {"secp256r1": "ec-256", "secp384r1": "ec-384"}[key.curve.name]


def public_der(key_or_public: Any) -> bytes:
    pub = key_or_public.public_key() if hasattr(key_or_public, "public_key") else key_or_public
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# --- names --------------------------------------------------------------------------------

def name_matches(pattern: str, domain: str) -> bool:
    """Does a certificate name (maybe '*.example.com') cover a domain (maybe a wildcard itself)?"""
    pattern, domain = pattern.lower().rstrip("."), domain.lower().rstrip(".")
    if pattern == domain:
        return True
    if pattern.startswith("*."):
        if domain.startswith("*."):
            return False
        head, _, rest = domain.partition(".")
        return bool(head) and rest == pattern[2:]
    return False


def covers(names: Iterable[str], domain: str) -> bool:
    return any(name_matches(n, domain) for n in names)


# --- CSRs ---------------------------------------------------------------------------------

def make_csr(key: PrivateKey, names: Sequence[str]) -> x509.CertificateSigningRequest:
    """A CSR for the names (first one also as CN when short enough), signed by key."""
    builder = x509.CertificateSigningRequestBuilder()
    if names and len(names[0]) <= 64:
        builder = builder.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
    else:
        builder = builder.subject_name(x509.Name([]))
    builder = builder.add_extension(
        x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
    )
    return builder.sign(key, hashes.SHA256())


def _general_name(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def csr_der(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.DER)


def load_csr(path: str) -> x509.CertificateSigningRequest:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise KeyFileError("CSR file %s cannot be read: %s" % (path, e.strerror)) from None
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError:
        try:
            csr = x509.load_der_x509_csr(data)
        except ValueError:
            raise KeyFileError("CSR file %s is not a PEM or DER CSR" % path) from None
    if not csr.is_signature_valid:
        raise KeyFileError("CSR file %s has an invalid signature" % path)
    if not csr_names(csr):
        raise KeyFileError("CSR file %s names no domain (no CN, no subjectAltName)" % path)
    return csr


def _san_names(obj):
    """DNS names and IP addresses of a CSR's or certificate's subjectAltName; None without one."""
    try:
        san = obj.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return None
    return san.get_values_for_type(x509.DNSName) + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def _common_names(obj):
    return [a.value for a in obj.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def csr_names(csr: x509.CertificateSigningRequest) -> List[str]:
    """The CSR's names: its CN (when not among the SANs) first, then the SANs."""
    names = _san_names(csr) or []
    for cn in _common_names(csr):
        if cn not in names:
            names.insert(0, cn)
    return [n.lower() for n in names]


# --- certificates -------------------------------------------------------------------------

def split_pem_chain(text: Union[str, bytes]) -> List[str]:
    """Split a PEM bundle into its certificates (as PEM strings), in order."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    marker_end = "-----END CERTIFICATE-----"
    out, rest = [], text
    while "-----BEGIN CERTIFICATE-----" in rest:
        start = rest.index("-----BEGIN CERTIFICATE-----")
        end = rest.find(marker_end, start)
        if end < 0:
            break
        out.append(rest[start:end + len(marker_end)] + "\n")
        rest = rest[end + len(marker_end):]
    return out


def cert_names(cert: x509.Certificate) -> List[str]:
    """The names a certificate is valid for: its SANs, or its CN when it has none."""
    names = _san_names(cert)
    return [n.lower() for n in (names if names is not None else _common_names(cert))]


def _utc(dt_naive_or_aware):
    if dt_naive_or_aware.tzinfo is None:
        return dt_naive_or_aware.replace(tzinfo=datetime.timezone.utc)
    return dt_naive_or_aware


def not_before(cert: x509.Certificate) -> datetime.datetime:
    return _utc(getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before)


def not_after(cert: x509.Certificate) -> datetime.datetime:
    return _utc(getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after)


def issuer_cn(cert: x509.Certificate) -> str:
    attrs = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else cert.issuer.rfc4514_string()


def serial_hex(cert: x509.Certificate) -> str:
    return "%x" % cert.serial_number


@dataclass
class CertBundle:
    """An issued certificate with its chain and key, as the deployers need it."""

    fullchain_pem: str
    key_pem: str
    cert: x509.Certificate = field(repr=False)
    names: List[str]
    serial: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    issuer: str

    @classmethod
    def from_pems(cls, fullchain_pem: Union[str, bytes], key_pem: Union[str, bytes]) -> "CertBundle":
        certs = split_pem_chain(fullchain_pem)
        if not certs:
            raise KeyFileError("no certificate in the chain")
        cert = x509.load_pem_x509_certificate(certs[0].encode("ascii"))
        register_key(key_pem)
        return cls(
            fullchain_pem=fullchain_pem if isinstance(fullchain_pem, str) else fullchain_pem.decode(),
            key_pem=key_pem if isinstance(key_pem, str) else key_pem.decode(),
            cert=cert,
            names=cert_names(cert),
            serial=serial_hex(cert),
            not_before=not_before(cert),
            not_after=not_after(cert),
            issuer=issuer_cn(cert),
        )

    def covers(self, domain: str) -> bool:
        return covers(self.names, domain)

    def key_matches(self) -> bool:
        key = serialization.load_pem_private_key(self.key_pem.encode("ascii"), password=None)
        return public_der(key) == public_der(self.cert.public_key())

    def expired(self, now: Optional[datetime.datetime] = None) -> bool:
        return (now or datetime.datetime.now(datetime.timezone.utc)) >= self.not_after

    @property
    def leaf_pem(self) -> str:
        return split_pem_chain(self.fullchain_pem)[0]


def load_cert_pem(data: Union[str, bytes]) -> x509.Certificate:
    certs = split_pem_chain(data)
    if not certs:
        raise KeyFileError("no PEM certificate found")
    return x509.load_pem_x509_certificate(certs[0].encode("ascii"))
