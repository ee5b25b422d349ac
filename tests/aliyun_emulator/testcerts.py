"""Throw-away certificates for tests: a leaf plus its intermediate, signed by a private test CA.

    from tests.aliyun_emulator.testcerts import make_cert, make_key
    fullchain_pem, key_pem = make_cert(["example.test", "*.example.test"], days=90)
    old_pem, old_key = make_cert(["cdn1.example.test"], expired=True)
    pem2, _ = make_cert(["a.example.test"], key=key_pem)      # same key, new certificate

Both values are ``str`` in PEM form (the key is unencrypted PKCS#8). The chain is the leaf followed
by one intermediate, like a Let's Encrypt fullchain. The issuing CA is created once per process.
"""

import datetime
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

_ISSUER_LOCK = threading.Lock()
_ISSUER = {}


def make_key(kind="ec"):
    """A new private key as PEM text: kind "ec" (P-256, fast) or "rsa" (2048 bits)."""
    return _key_pem(_new_key(kind))


def make_cert(names, days=90, key=None, expired=False, org="Let's Encrypt"):
    """Return (fullchain_pem, key_pem) for a certificate whose CN is names[0] and SANs are all names.

    days: validity. expired: the certificate ended yesterday (and began ``days`` before that).
    key: PEM text (str/bytes) or a private key object to certify instead of a fresh EC key.
    org: the issuer organisation (shown by the cloud as CertOrg).
    """
    if isinstance(names, str):
        names = [names]
    if key is None:
        key = _new_key("ec")
    elif isinstance(key, (str, bytes)):
        key = serialization.load_pem_private_key(key.encode() if isinstance(key, str) else key, password=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        not_after = now - datetime.timedelta(days=1)
        not_before = not_after - datetime.timedelta(days=days)
    else:
        not_before = now - datetime.timedelta(hours=1)
        not_after = not_before + datetime.timedelta(days=days)
    intermediate, intermediate_key = _issuer(org)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(intermediate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(intermediate_key, hashes.SHA256())
    )
    chain = leaf.public_bytes(serialization.Encoding.PEM) + intermediate.public_bytes(serialization.Encoding.PEM)
    return chain.decode(), _key_pem(key)


def _new_key(kind):
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError("unknown key kind %r (use 'ec' or 'rsa')" % kind)


def _key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _issuer(org):
    """The (intermediate certificate, key) for ``org``, created on first use."""
    with _ISSUER_LOCK:
        if org not in _ISSUER:
            _ISSUER[org] = _build_issuer(org)
        return _ISSUER[org]


def _build_issuer(org):
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=800), now + datetime.timedelta(days=800)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                           x509.NameAttribute(NameOID.COMMON_NAME, "Test Root")])
    ca_ext = x509.BasicConstraints(ca=True, path_length=None)
    root_cert = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(ca_ext, critical=True)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Test Intermediate")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(root_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(ca_ext, critical=True)
        .sign(root_key, hashes.SHA256())
    )
    return cert, key
