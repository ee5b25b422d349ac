"""Getting a certificate (RFC 8555 §7.4–7.5): present all, answer all, poll, finalize, download.

Read it top to bottom: obtain() is the whole story, each step follows in the
order it runs. All challenges of an order are made answerable together and
answered together. The reply to each answer is read (a CA may already say
`invalid` there); then the order and every unfinished authorization are polled
together, one concurrent round at a time, because a CA may leave the order
`pending` when an authorization fails (§7.1.6 says it should not; §7.5.1 tells
clients to watch the authorization). The first `invalid` authorization ends the
wait with the CA's own error per name. Polls honour Retry-After and otherwise
back off from 50 ms to 5 s, within one deadline ([acme] ValidationTimeout).
The caller's solver is always cleaned up, on failure too, without that cleanup
ever hiding the order's own outcome.
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

from cryptography import x509

from acme_aliyun.challenges.base import Challenge
from acme_aliyun.protocol import jose
from acme_aliyun.protocol.errors import (
    AcmeError,
    AcmeProblem,
    AcmeResponseError,
    AuthorizationFailed,
    OrderFailed,
)

log = logging.getLogger(__name__)

POLL_FIRST, POLL_MAX, POLL_FACTOR = 0.05, 5.0, 1.6
MAX_PARALLEL_POLLS = 8          # requests in flight per polling round (order + authorizations)
NO_REASON = "invalid, no reason given by the CA"


@dataclass
class Issued:
    """What the CA gave back, before the caller checks and stores it."""

    order_url: str
    certificate_pem: str          # the chosen chain: leaf first
    chains_offered: int = 1
    polls: int = 0


@dataclass
class _Pending:
    authz_url: str
    identifier: str
    challenge: Challenge
    challenge_url: str
    status: str                   # challenge status when fetched


@dataclass
class OrderOptions:
    challenge_type: str
    profile: Optional[str] = None
    replaces: Optional[str] = None
    preferred_chain: Optional[str] = None
    timeout: float = 300.0                                               # [acme] ValidationTimeout
    on_challenges: Optional[Callable[[List[Challenge]], None]] = None   # journal before present()
    on_cleaned: Optional[Callable[[], None]] = None                      # after a successful cleanup()
    progress: Optional[Callable[[str], None]] = None
    sleep: Callable[[float], None] = time.sleep


# --- the whole story ---------------------------------------------------------------------

def obtain(client, names: Sequence[str], csr_der: bytes, solver, opts: OrderOptions) -> Issued:
    """Run one order to a downloaded certificate chain."""
    order_url, order = new_order(client, names, opts.profile, opts.replaces)
    poller = _Poller(opts)
    if order.get("status") == "pending":
        order, poller = _authorize(client, order_url, order, solver, opts)
    order = _finalize(client, order_url, order, csr_der, poller)
    cert_url = order.get("certificate")
    if not cert_url:
        raise AcmeResponseError("the valid order has no certificate URL")
    pem, offered = download(client, cert_url, opts.preferred_chain)
    return Issued(order_url=order_url, certificate_pem=pem, chains_offered=offered, polls=poller.count)


# --- 1. the order ------------------------------------------------------------------------

def new_order(client, names, profile=None, replaces=None):
    """POST newOrder (§7.4); returns (order URL, order object)."""
    d = client.directory
    if profile and profile not in d.profiles:
        offered = ", ".join(sorted(d.profiles)) or "none"
        raise AcmeError("the CA does not offer profile %r (offered: %s)" % (profile, offered))
    payload = {"identifiers": [{"type": "dns", "value": n} for n in names]}
    if profile:
        payload["profile"] = profile
    if replaces and d.renewal_info:
        payload["replaces"] = replaces
    resp = client.post(d["newOrder"], payload)
    if not resp.location:
        raise AcmeResponseError("newOrder gave no Location for the order")
    return resp.location, resp.json


# --- 2. the authorizations: present, answer, wait ------------------------------------------

def _authorize(client, order_url, order, solver, opts):
    """Present and answer every pending challenge, wait for the CA; returns (order, poller)."""
    progress = opts.progress or (lambda msg, limit=None: None)
    pending = _pending_challenges(client, order, opts.challenge_type)
    authz_urls = [p.authz_url for p in pending]          # the valid ones need no watching
    challenges = [p.challenge for p in pending]
    if not challenges:
        poller = _Poller(opts)
        return _await_validation(client, order_url, authz_urls, poller), poller
    if opts.on_challenges:
        opts.on_challenges(challenges)
    try:
        progress("presenting %d %s challenge(s)" % (len(challenges), opts.challenge_type))
        solver.present(challenges)
        solver.progress = progress               # a solver that waits (DNS propagation) says so
        solver.wait_until_visible(challenges)    # the solver's own limit (DNSWaitTimeout)
        poller = _Poller(opts)                   # a long DNS wait does not eat the validation budget
        _answer(client, pending)
        progress("waiting for the CA to validate %d name(s)" % len(challenges), limit=opts.timeout)
        # validation takes the CA a moment per name: polling at once is a wasted request
        first_wait = min(1.0, 0.1 + 0.004 * len(challenges))
        return _await_validation(client, order_url, authz_urls, poller, first_wait), poller
    finally:
        _clean_up(solver, challenges, opts)


def _pending_challenges(client, order, challenge_type):
    """The challenge of the wanted type for every authorization not yet valid."""
    thumb = jose.thumbprint(client.key)
    pending = []
    for url in order.get("authorizations") or []:
        authz = client.post_as_get(url).json
        status = authz.get("status")
        ident = _identifier(authz)
        if status == "valid":
            continue
        if status != "pending":
            raise AuthorizationFailed([(ident, "authorization is %s: %s" % (status, _authz_error(authz)))])
        chall = next((c for c in authz.get("challenges") or [] if c.get("type") == challenge_type), None)
        if chall is None:
            offered = ", ".join(sorted(c.get("type", "?") for c in authz.get("challenges") or []))
            raise AcmeError("%s: the CA offers no %s challenge (offered: %s)" % (ident, challenge_type, offered))
        token = chall.get("token", "")
        if not token or not all(ch.isalnum() or ch in "-_" for ch in token):
            raise AcmeResponseError("%s: the CA sent an unusable challenge token" % ident)
        pending.append(_Pending(url, ident, Challenge(ident, challenge_type, token, "%s.%s" % (token, thumb)),
                                chall["url"], chall.get("status", "pending")))
    return pending


def _answer(client, pending):
    """POST {} to each pending challenge (§7.5.1). The reply is the challenge: a CA that has
    already failed it says so there, and then there is nothing to wait for."""
    failures = []
    for p in pending:
        if p.status != "pending":
            continue
        chall = client.post(p.challenge_url, {}).json
        if chall.get("status") == "invalid":
            failures.append((p.identifier, _problem_text(chall.get("error"))))
    if failures:
        raise AuthorizationFailed(failures)


def _await_validation(client, order_url, authz_urls, poller, first_wait=None):
    """Poll the order and every unfinished authorization together until the order leaves
    `pending`; AuthorizationFailed as soon as any authorization has failed."""
    if first_wait is not None:
        poller.wait(first_wait, "validation")
    unfinished = list(authz_urls)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_POLLS, 1 + len(unfinished))) as pool:
        while True:
            replies = list(pool.map(client.post_as_get, [order_url] + unfinished))
            authzs = [r.json for r in replies[1:]]
            failures = _authz_failures(authzs)
            if failures:
                raise AuthorizationFailed(failures)
            order = replies[0].json
            status = order.get("status")
            if status in ("ready", "processing", "valid", "invalid"):
                return order
            if status != "pending":
                raise AcmeResponseError("order has an unknown status %r" % status)
            unfinished = [u for u, a in zip(unfinished, authzs) if a.get("status") != "valid"]
            poller.wait(_longest_retry_after(replies), "validation")


def _authz_failures(authzs):
    """(name, the CA's reason) for every authorization that is neither pending nor valid."""
    failures = []
    for authz in authzs:
        status = authz.get("status")
        if status in ("pending", "valid"):
            continue
        reason = _authz_error(authz)
        failures.append((_identifier(authz), reason if status == "invalid" else
                         "authorization is %s: %s" % (status, reason)))
    return failures


def _identifier(authz):
    ident = authz.get("identifier")
    return (ident.get("value") if isinstance(ident, dict) else None) or "?"


def _authz_error(authz):
    """The error of the authorization's failed challenge (type, detail, subproblems)."""
    challenges = [c for c in authz.get("challenges") or [] if isinstance(c, dict)]
    failed = [c for c in challenges if c.get("status") == "invalid"] + challenges
    for c in failed:
        if c.get("error"):
            return _problem_text(c["error"])
    return NO_REASON


def _problem_text(err):
    """'type: detail; name: type detail' from a problem document, NO_REASON when there is none."""
    if not isinstance(err, dict) or not (err.get("type") or err.get("detail")):
        return NO_REASON
    return AcmeProblem.from_json(err).describe()


def _longest_retry_after(replies):
    waits = [r.retry_after for r in replies if r.retry_after is not None]
    return max(waits) if waits else None


class _Poller:
    """Backoff between polls, Retry-After first, within one deadline."""

    def __init__(self, opts):
        self.opts, self.delay, self.count = opts, POLL_FIRST, 0
        self.deadline = time.monotonic() + opts.timeout

    def wait(self, retry_after, what):
        if time.monotonic() >= self.deadline:
            raise OrderFailed("gave up waiting for %s after %.0f s" % (what, self.opts.timeout))
        delay = self.delay if retry_after is None else min(max(retry_after, 0.05), 60.0)
        delay = min(delay, max(0.0, self.deadline - time.monotonic()))
        self.delay = min(self.delay * POLL_FACTOR, POLL_MAX)
        self.count += 1
        self.opts.sleep(delay)


def _clean_up(solver, challenges, opts):
    """Clean up without masking the order's own outcome; on_cleaned only when it worked, so the
    caller's journal keeps what is left for the next run."""
    try:
        solver.cleanup(challenges)
    except Exception as e:  # a solver error must not hide the CA's answer nor throw away a good order
        log.warning("cleaning up %d challenge(s) failed (%s); the next run tries again", len(challenges), e)
    else:
        if opts.on_cleaned:
            opts.on_cleaned()
    finally:
        solver.close()


# --- 3. finalize (§7.4) ----------------------------------------------------------------------

def _finalize(client, order_url, order, csr_der, poller):
    """From a validated order to a valid one: finalize when ready, wait while processing."""
    status = order.get("status")
    if status == "ready":
        retry_after = POLL_FIRST
        try:
            resp = client.post(order["finalize"], {"csr": jose.b64u(csr_der)})
            order = resp.json
            retry_after = resp.retry_after if resp.retry_after is not None else POLL_FIRST
        except AcmeProblem as e:
            if e.code != "orderNotReady":
                raise
        if order.get("status") != "valid":
            order = _poll_order(client, order_url, poller, first_wait=retry_after)
    elif status == "processing":       # the CA handed back an order already being finalized
        order = _poll_order(client, order_url, poller)
    if order.get("status") == "invalid":
        _report_failures(client, order)
    if order.get("status") != "valid":
        raise OrderFailed("the order ended %r instead of valid" % order.get("status"))
    return order


def _poll_order(client, order_url, poller, first_wait=None):
    """POST-as-GET the order until it is valid or invalid; first_wait before the first poll."""
    if first_wait is not None:
        poller.wait(first_wait, "issuance")
    while True:
        resp = client.post_as_get(order_url)
        order = resp.json
        status = order.get("status")
        if status in ("valid", "invalid"):
            return order
        if status not in ("pending", "ready", "processing"):
            raise AcmeResponseError("order has an unknown status %r" % status)
        poller.wait(resp.retry_after, "issuance")


def _report_failures(client, order):
    """An invalid order: the authorizations' reasons when one failed, else the order's error."""
    failures = _authz_failures([client.post_as_get(url).json for url in order.get("authorizations") or []])
    if failures:
        raise AuthorizationFailed(failures)
    err = order.get("error") or {}
    raise OrderFailed("the order became invalid: %s" % (err.get("detail") or "no detail from the CA"))


# --- 4. download (§7.4.2) ----------------------------------------------------------------------

def download(client, cert_url, preferred_chain=None):
    """The default chain, or the alternate whose top issuer matches preferred_chain. Returns (pem, count)."""
    resp = client.post(cert_url, None, want_json=False)
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype != "application/pem-certificate-chain":
        raise AcmeResponseError("certificate download answered Content-Type %r" % (ctype or "none"))
    pem = resp.body.decode("ascii", "replace")
    alternates = resp.links("alternate")
    if not preferred_chain or _chain_matches(pem, preferred_chain):
        return pem, 1 + len(alternates)
    for url in alternates:
        alt = client.post(url, None, want_json=False).body.decode("ascii", "replace")
        if _chain_matches(alt, preferred_chain):
            return alt, 1 + len(alternates)
    log.info("no chain matches PreferredChain %r; keeping the default chain", preferred_chain)
    return pem, 1 + len(alternates)


def _chain_matches(pem, issuer_cn):
    """certbot's rule: the issuer CN of the top-most certificate in the chain."""
    from acme_aliyun.pki import issuer_cn as _issuer_cn, split_pem_chain
    certs = split_pem_chain(pem)
    if not certs:
        return False
    top = x509.load_pem_x509_certificate(certs[-1].encode("ascii"))
    return _issuer_cn(top) == issuer_cn


# --- revocation (§7.6) --------------------------------------------------------------------------

def revoke(client, cert_der, reason=None, cert_key=None):
    """§7.6: signed by the account (kid) or, with cert_key, by the certificate's own key (jwk)."""
    payload = {"certificate": jose.b64u(cert_der)}
    if reason is not None:
        payload["reason"] = reason
    url = client.directory["revokeCert"]
    if cert_key is not None:
        client.post(url, payload, key=cert_key, use_jwk=True, want_json=False)
    else:
        client.post(url, payload, want_json=False)
