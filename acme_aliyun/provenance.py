"""Where a stored certificate came from, and whether it may go to a cloud target.

A certificate is only as good as the CA that issued it. Three cases must never
reach CDN, DCDN or API Gateway unasked (only `--force` deploys them):

- it was issued by another ACME directory than the one configured now (the
  staging -> production switch: the stored staging certificate is due at once
  and must not be deployed while the production one is being ordered);
- it comes from a directory known as staging: Let's Encrypt's staging URL, or a
  chain that does not verify against the system trust store while [acme]
  CABundle is unset (with CABundle set, the user told us which CA to trust);
- it was revoked (see cli/certs.py, cmd_revoke).

The directory URL is recorded in meta.json by the issuer ("directory").
"""

import datetime
import logging
import ssl
import warnings
from typing import Any, Optional

from cryptography import x509

from acme_aliyun import pki

log = logging.getLogger(__name__)

STAGING_DIRECTORIES = (
    "https://acme-staging-v02.api.letsencrypt.org/directory",
)


def issued_by(stored: Any) -> Optional[str]:
    """The directory URL the certificate came from, when recorded."""
    value = (getattr(stored, "meta", None) or {}).get("directory")
    return value if isinstance(value, str) and value else None


def ca_changed(stored: Any, directory_url: Optional[str]) -> bool:
    """True when the certificate was issued by another directory than directory_url."""
    origin = issued_by(stored)
    return bool(origin and directory_url and origin.rstrip("/") != directory_url.rstrip("/"))


def revoked(stored: Any) -> Optional[str]:
    """The revocation reason recorded by `revoke`, or None."""
    meta = getattr(stored, "meta", None) or {}
    return (meta.get("revoked_reason") or "unspecified") if meta.get("revoked") else None


def _system_roots():
    """The roots of the system trust store (OpenSSL's default CA file), plus certifi's, which
    requests trusts by default (some runtimes, Function Compute's among them, ship no CA file)."""
    paths = ssl.get_default_verify_paths()
    files = [paths.cafile, paths.openssl_cafile]
    try:
        import certifi
        files.append(certifi.where())
    except ImportError:
        pass
    roots, seen = [], set()
    for path in files:
        if not path or path in seen:
            continue
        seen.add(path)
        try:
            with open(path, "r", encoding="ascii", errors="replace") as fh:
                pems = pki.split_pem_chain(fh.read())
        except OSError:
            continue
        with warnings.catch_warnings():       # a few old roots have non-positive serial numbers
            warnings.simplefilter("ignore")
            for pem in pems:
                try:
                    roots.append(x509.load_pem_x509_certificate(pem.encode("ascii")))
                except ValueError:            # one unreadable root does not void the others
                    continue
    return roots


def chain_publicly_trusted(bundle: pki.CertBundle, now: Optional[datetime.datetime] = None) -> Optional[bool]:
    """Does the leaf verify, through the chain it came with, to a root of the system trust store?
    None when there is no trust store to ask."""
    from cryptography.x509 import DNSName, load_pem_x509_certificate
    try:
        from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
    except ImportError:         # cryptography < 42
        log.warning("cryptography %s cannot verify chains: cannot tell a staging certificate from a real one",
                    _cryptography_version())
        return None
    roots = _system_roots()
    if not roots:
        log.warning("no system trust store found: cannot tell a staging certificate from a real one")
        return None
    pems = pki.split_pem_chain(bundle.fullchain_pem)
    chain = [load_pem_x509_certificate(p.encode("ascii")) for p in pems[1:]]
    name = bundle.names[0]
    name = "check." + name[2:] if name.startswith("*.") else name      # a name the wildcard covers
    now = now or datetime.datetime.now(datetime.timezone.utc)
    when = min(now, bundle.not_after - datetime.timedelta(seconds=1))   # an expired one: its last moment
    try:
        verifier = PolicyBuilder().store(Store(roots)).time(when).build_server_verifier(DNSName(name))
        verifier.verify(bundle.cert, chain)
        return True
    except (VerificationError, ValueError) as e:
        log.debug("chain of %s does not verify against the system trust store: %s", name, e)
        return False


def staging(stored: Any, acme_settings: Any) -> Optional[str]:
    """Why the certificate looks like a staging/test certificate, or None."""
    from acme_aliyun import staging as rehearsal
    origin = issued_by(stored)
    if origin and origin.rstrip("/") in (u.rstrip("/") for u in STAGING_DIRECTORIES + (rehearsal.directory_url(),)):
        return "it was issued by the staging directory %s" % origin
    if acme_settings is not None and not acme_settings.ca_bundle_in_ini and \
            chain_publicly_trusted(stored.bundle) is False:
        return "its chain does not verify against the system trust store (a staging or test CA)"
    return None


def deploy_block(stored: Any, acme_settings: Any) -> Optional[str]:
    """Why this certificate must not go to a cloud target without --force, or None."""
    reason = revoked(stored)
    if reason:
        return "it was revoked (%s); the next run replaces it" % reason
    if acme_settings is not None and ca_changed(stored, acme_settings.directory_url):
        return "CA changed: it was issued by %s, the configured directory is %s" % (
            issued_by(stored), acme_settings.directory_url)
    return staging(stored, acme_settings)


def _cryptography_version():
    import cryptography
    return cryptography.__version__
