"""Issue or renew one configured certificate: decide, order, check, store.

Orchestration between the protocol layer, the solvers and the store. Crash
safety: the order key is kept in the store before the order starts (a rerun
reuses it), the challenges are journalled before they are presented (a rerun
cleans up what a killed run left), and the new pair replaces the old in one
atomic switch only after it has been checked.
"""

import datetime
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Tuple

from cryptography.hazmat.primitives import serialization

from acme_aliyun import pki, ratelimits, renewal
from acme_aliyun.errors import ToolError, UsageError
from acme_aliyun.kinds import CertAction
from acme_aliyun.log import redact
from acme_aliyun.protocol import ari
from acme_aliyun.protocol import order as acme_order
from acme_aliyun.protocol.errors import AcmeProblem
from acme_aliyun.challenges.solvers import make_solver, solver_id
from acme_aliyun.store import Store, write_copy

if TYPE_CHECKING:
    from acme_aliyun.protocol.client import AcmeClient
    from acme_aliyun.ratelimits import Ledger

CloudFor = Callable[..., Any]      # Context.cloud: the CloudClient of an account profile

log = logging.getLogger(__name__)
CLOCK_SKEW = datetime.timedelta(hours=1)
BACKOFF = (60, 600, 6000, 86400)      # seconds between failed orders, as Let's Encrypt's integration guide advises


class CertificateMismatch(ToolError):
    """The CA's certificate is not for our key or not for the ordered names: nothing is saved."""


@dataclass
class IssueResult:
    name: str
    action: CertAction                 # DEFERRED: backing off after failures
    reason: str
    stored: object = None              # store.StoredCert (or ChainFileCert) after the run (may be the old one)
    renew_at: Optional[datetime.datetime] = None
    order_url: Optional[str] = None


@dataclass
class ChainFileCert:
    """The certificate in ChainFile, issued from a CSRFile without its key (the article's flow):
    it is the current one for renewal decisions, but nothing is stored and it cannot be deployed."""
    name: str
    bundle: pki.CertBundle
    meta: dict = field(default_factory=dict)
    key_pem: bytes = b""


def cleanup_leftovers(store: Store, cert: Any, cloud: Optional[CloudFor] = None) -> None:
    """Remove challenges an earlier run presented and did not clean up (killed, or cleanup failed).

    What still cannot be cleaned stays in the journal for the next run.
    """
    leftovers = store.pending_challenges(cert.name)
    if not leftovers:
        return
    failed = []
    for kind, challenges in leftovers:
        try:
            solver = make_solver(cert, cloud, solver_kind=kind)
            try:
                solver.cleanup(challenges)
            finally:
                solver.close()
        except Exception as e:          # never let old debris block a renewal
            log.warning("%s: could not clean up %d challenge(s) left by an earlier run: %s",
                        cert.name, len(challenges), e)
            failed.append((kind, challenges))
            continue
        log.info("%s: cleaned up %d challenge(s) left by an earlier run", cert.name, len(challenges))
    store.clear_challenges(cert.name)
    for kind, challenges in failed:
        store.journal_challenges(cert.name, kind, challenges)


def _order_key(store, cert, stored):
    """The private key for this order, and the CSR to send."""
    if cert.csr_file:
        return _csr_file_key(cert)
    compromised = stored is not None and (stored.meta or {}).get("revoked_reason") == "keyCompromise"
    if compromised and cert.reuse_key:
        log.warning("%s: ReuseKey ignored: the current key was revoked for keyCompromise", cert.name)
    reuse = cert.reuse_key and stored is not None and stored.key_pem and not compromised
    key = serialization.load_pem_private_key(stored.key_pem, None) if reuse else None
    if key is None or pki.key_type_of(key) != cert.key_type:
        key = serialization.load_pem_private_key(store.pending_key(cert.name, cert.key_type), None)
    return key, pki.csr_der(pki.make_csr(key, cert.domains))


def _csr_file_key(cert):
    """CSRFile: its CSR, and the KeyFile's key when one is readable (it must be the CSR's key)."""
    csr = pki.load_csr(cert.csr_file)
    key = None
    if cert.key_file:
        try:
            key = pki.load_private_key(cert.key_file, what="KeyFile")
        except pki.KeyFileError:
            key = None
    if key is not None and pki.public_der(key) != pki.public_der(csr.public_key()):
        raise ToolError("%s: KeyFile %s does not match the key of CSRFile %s" % (cert.name, cert.key_file,
                                                                                 cert.csr_file))
    return key, pki.csr_der(csr)


def check_issued(pem: str, key: Any, csr_der: bytes, names: Sequence[str]) -> Tuple[str, str]:
    """Refuse a certificate whose key is not ours, whose names are not exactly the order's,
    or that is not valid now."""
    chain = pki.split_pem_chain(pem)
    if not chain:
        raise CertificateMismatch("the CA sent no certificate")
    try:
        cert = pki.load_cert_pem(chain[0])
    except ValueError:
        raise CertificateMismatch("the CA sent a certificate that does not parse") from None
    from cryptography import x509
    expected_pub = pki.public_der(key) if key is not None else pki.public_der(
        x509.load_der_x509_csr(csr_der).public_key())
    if pki.public_der(cert.public_key()) != expected_pub:
        raise CertificateMismatch("the CA's certificate is for another public key; refusing it")
    now = datetime.datetime.now(datetime.timezone.utc)
    if pki.not_after(cert) <= now:
        raise CertificateMismatch("the CA's certificate expired on %s; refusing it"
                                  % pki.not_after(cert).strftime("%Y-%m-%d %H:%M UTC"))
    if pki.not_before(cert) > now + CLOCK_SKEW:
        raise CertificateMismatch("the CA's certificate is not valid before %s (is this host's clock right?); "
                                  "refusing it" % pki.not_before(cert).strftime("%Y-%m-%d %H:%M UTC"))
    got = sorted(set(pki.cert_names(cert)))
    if got != sorted(set(n.lower() for n in names)):
        raise CertificateMismatch("the CA's certificate names %s, the order asked for %s; refusing it"
                                  % (", ".join(got), ", ".join(sorted(names))))
    return chain[0], "".join(chain[1:])


def current(store: Store, cert: Any) -> Any:
    """The certificate in force for these settings: the stored pair, or, for a CSRFile without its
    key (the article's flow, nothing stored), the certificate in ChainFile, without a key."""
    stored = store.load(cert.name)
    if stored is not None or not cert.csr_file or not cert.chain_file:
        return stored
    try:
        with open(cert.chain_file) as fh:
            return ChainFileCert(cert.name, pki.CertBundle.from_pems(fh.read(), ""))
    except (OSError, ValueError, pki.KeyFileError):
        return None


def issue(cert: Any, store: Store, client: "AcmeClient", cloud: Optional[CloudFor] = None, force: bool = False,
          progress: Optional[Callable[[str], None]] = None, timeout: float = 300.0,
          ledger: Optional["Ledger"] = None) -> IssueResult:
    """Issue when due (or forced). The caller holds the store lock. ledger: the CA rate-limit
    ledger (ratelimits.Ledger); an order it has no slot for is deferred with its reason."""
    stored = current(store, cert)
    cleanup_leftovers(store, cert, cloud)
    decision = renewal.decide(stored, cert, client.directory, client, store, force=force)
    if not decision.due:
        return IssueResult(cert.name, CertAction.UNCHANGED, decision.reason, stored, decision.renew_at)
    attempts = store.read_attempts(cert.name)
    next_attempt = _parse_time(attempts.get("next_attempt"))
    if next_attempt and not force and next_attempt > datetime.datetime.now(datetime.timezone.utc):
        return IssueResult(cert.name, CertAction.DEFERRED, "%d failed attempt(s), the last: %s; next attempt after %s "
                           "(or use --force)" % (attempts.get("failures", 1), attempts.get("last_error", "?"),
                                                 next_attempt.strftime("%Y-%m-%d %H:%M UTC")),
                           stored, next_attempt)
    slot = ledger.reserve(client.directory_url, cert.domains, exempt=ratelimits.ari_exempt(stored, decision)) \
        if ledger else None
    if isinstance(slot, ratelimits.Deferral):
        log.info("%s: %s", cert.name, slot.reason)
        return IssueResult(cert.name, CertAction.DEFERRED, slot.reason, stored, slot.next_slot)
    log.info("%s: %s; ordering %s", cert.name, decision.reason, ", ".join(cert.domains))
    try:
        return _order(cert, store, client, cloud, stored, decision, progress, timeout)
    except Exception as e:        # (a killed or interrupted run keeps its slot counted: the safe side)
        if slot is not None:      # the certificate slot goes back; failed validations count
            slot.failed([n for n, _ in getattr(e, "failures", None) or []])
        if isinstance(e, ToolError) and not isinstance(e, UsageError):
            _record_failure(store, cert.name, attempts, e)
        raise


def _parse_time(text):
    return datetime.datetime.fromisoformat(text) if text else None


def _record_failure(store, name, attempts, error):
    """Back off after a failed order (1 min, 10 min, 100 min, then daily), or as long as the CA asks."""
    failures = int(attempts.get("failures") or 0) + 1
    wait = BACKOFF[min(failures, len(BACKOFF)) - 1]
    wait = max(wait, min(getattr(error, "retry_after", None) or 0, BACKOFF[-1]))    # a CA's ask: one day at most
    now = datetime.datetime.now(datetime.timezone.utc)
    store.write_attempts(name, {"failures": failures, "last_error": redact(str(error))[:300],
                                "last_failure": now.isoformat(),
                                "next_attempt": (now + datetime.timedelta(seconds=wait)).isoformat()})


def _order(cert, store, client, cloud, stored, decision, progress, timeout):
    key, csr_der = _order_key(store, cert, stored)
    replaces = None
    if stored is not None and client.directory.renewal_info:
        replaces = stored.meta.get("ari_cert_id") or ari.cert_id(stored.bundle.cert)
    kind = solver_id(cert)
    solver = make_solver(cert, cloud)
    opts = acme_order.OrderOptions(
        challenge_type=cert.challenge, profile=cert.profile, replaces=replaces,
        preferred_chain=cert.preferred_chain, timeout=timeout, progress=progress,
        on_challenges=lambda ch: store.journal_challenges(cert.name, kind, ch),
        on_cleaned=lambda: store.clear_challenges(cert.name))
    try:
        issued = acme_order.obtain(client, cert.domains, csr_der, solver, opts)
    except AcmeProblem as e:
        if e.code != "alreadyReplaced" or not replaces:
            raise
        log.info("%s: the CA says the old certificate was already replaced; ordering without 'replaces'",
                 cert.name)
        opts.replaces = None
        issued = acme_order.obtain(client, cert.domains, csr_der, make_solver(cert, cloud), opts)
    leaf, chain = check_issued(issued.certificate_pem, key, csr_der, cert.domains)
    leaf_cert = pki.load_cert_pem(leaf)
    if key is None:
        # A CSR without its key (the article's flow): only the chain file can be written.
        now_current = None
        if cert.chain_file:
            write_copy(cert.chain_file, leaf + chain, private=False)
            now_current = ChainFileCert(cert.name, pki.CertBundle.from_pems(leaf + chain, ""))
        store.write_attempts(cert.name, None)
        return IssueResult(cert.name, CertAction.ISSUED, "issued from CSRFile into ChainFile (no key: not stored)",
                           now_current, renewal.decide(now_current, cert).renew_at if now_current else None,
                           issued.order_url)
    meta = {"order_url": issued.order_url, "ari_cert_id": ari.cert_id(leaf_cert) if _has_aki(leaf_cert) else None,
            "directory": client.directory_url, "profile": cert.profile}
    new = store.save(cert.name, pki.key_to_pem(key), leaf, chain, meta)
    store.write_attempts(cert.name, None)
    # KeyFile / ChainFile: the caller brings them in line with the stored pair (copies.sync)
    after = renewal.decide(new, cert, client.directory, client, store)
    action = CertAction.RENEWED if stored is not None else CertAction.ISSUED
    log.info("%s: %s, serial %s, valid until %s", cert.name, action, new.bundle.serial,
             new.bundle.not_after.strftime("%Y-%m-%d"))
    return IssueResult(cert.name, action, decision.reason, new, after.renew_at, issued.order_url)


def _has_aki(cert):
    from cryptography import x509
    try:
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        return True
    except x509.ExtensionNotFound:
        return False
