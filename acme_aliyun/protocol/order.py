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
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple

from cryptography import x509

from acme_aliyun.challenges.base import Challenge
from acme_aliyun.protocol import jose, messages
from acme_aliyun.protocol.messages import Authorization, ChallengeStatus, Order, Problem
from acme_aliyun.protocol.errors import (
    AcmeError,
    AcmeProblem,
    AcmeResponseError,
    AuthorizationFailed,
    OrderFailed,
)

if TYPE_CHECKING:
    from acme_aliyun.challenges.base import Solver
    from acme_aliyun.protocol.client import AcmeClient, Response

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
    status: ChallengeStatus       # when fetched


@dataclass
class OrderOptions:
    challenge_type: str
    profile: Optional[str] = None
    replaces: Optional[str] = None
    preferred_chain: Optional[str] = None
    timeout: float = 300.0                                               # [acme] ValidationTimeout
    on_challenges: Optional[Callable[[List[Challenge]], None]] = None   # journal before present()
    on_cleaned: Optional[Callable[[], None]] = None                      # after a successful cleanup()
    progress: Optional[Callable[..., None]] = None                      # progress(message, limit=None)
    sleep: Callable[[float], None] = time.sleep


# --- the whole story ---------------------------------------------------------------------

def obtain(client: "AcmeClient", names: Sequence[str], csr_der: bytes, solver: "Solver",
           opts: OrderOptions) -> Issued:
    """Run one order to a downloaded certificate chain."""
    order = new_order(client, names, opts.profile, opts.replaces)
    poller = _Poller(opts)
    if order.status == "pending":
        order, poller = _authorize(client, order, solver, opts)
    order = _finalize(client, order, csr_der, poller)
    if not order.certificate:
        raise AcmeResponseError("the valid order has no certificate URL")
    pem, offered = download(client, order.certificate, opts.preferred_chain)
    return Issued(order_url=order.url, certificate_pem=pem, chains_offered=offered, polls=poller.count)


# --- 1. the order ------------------------------------------------------------------------

def new_order(client: "AcmeClient", names: Sequence[str], profile: Optional[str] = None,
              replaces: Optional[str] = None) -> Order:
    """POST newOrder (§7.4); the order, its URL from Location."""
    d = client.directory
    if profile and profile not in d.profiles:
        offered = ", ".join(sorted(d.profiles)) or "none"
        raise AcmeError("the CA does not offer profile %r (offered: %s)" % (profile, offered))
    payload: Any = {"identifiers": [{"type": "dns", "value": n} for n in names]}
    if profile:
        payload["profile"] = profile
    if replaces and d.renewal_info:
        payload["replaces"] = replaces
    resp = client.post(d["newOrder"], payload)
    if not resp.location:
        raise AcmeResponseError("newOrder gave no Location for the order")
    return Order.parse(resp.json or {}, resp.location)


# --- 2. the authorizations: present, answer, wait ------------------------------------------

def _silent(message: str, limit: Optional[float] = None) -> None:
    """No progress shown."""


def _authorize(client: "AcmeClient", order: Order, solver: "Solver", opts: OrderOptions) -> Tuple[Order, "_Poller"]:
    """Present and answer every pending challenge, wait for the CA; returns (order, poller)."""
    progress: Callable[..., None] = opts.progress or _silent
    pending = _pending_challenges(client, order, opts.challenge_type)
    authz_urls = [p.authz_url for p in pending]          # the valid ones need no watching
    challenges = [p.challenge for p in pending]
    if not challenges:
        poller = _Poller(opts)
        return _await_validation(client, order.url, authz_urls, poller), poller
    if opts.on_challenges:
        opts.on_challenges(challenges)
    try:
        progress("presenting %d %s challenge(s)" % (len(challenges), opts.challenge_type))
        solver.present(challenges)
        setattr(solver, "progress", progress)   # a solver that waits (DNS propagation) says so
        solver.wait_until_visible(challenges)    # the solver's own limit (DNSWaitTimeout)
        poller = _Poller(opts)                   # a long DNS wait does not eat the validation budget
        _answer(client, pending)
        progress("waiting for the CA to validate %d name(s)" % len(challenges), limit=opts.timeout)
        first_wait = first_poll_wait(len(challenges))
        return _await_validation(client, order.url, authz_urls, poller, first_wait), poller
    finally:
        _clean_up(solver, challenges, opts)


def first_poll_wait(names: int) -> float:
    """Seconds to wait before the first validation poll: the CA takes a moment per name, so polling
    at once is a wasted request; 0.1 s plus 4 ms a name, never more than one second."""
    return min(1.0, 0.1 + 0.004 * names)


def _pending_challenges(client: "AcmeClient", order: Order, challenge_type: str) -> List[_Pending]:
    """The challenge of the wanted type for every authorization not yet valid."""
    thumb = jose.thumbprint(client.key)
    pending = []
    for url in order.authorizations:
        authz = _authorization(client, url)
        ident = authz.identifier
        if authz.status == "valid":
            continue
        if authz.status != "pending":
            raise AuthorizationFailed([(ident, "authorization is %s: %s" % (authz.status, _authz_error(authz)))])
        chall = next((c for c in authz.challenges if c.type == challenge_type), None)
        if chall is None:
            offered = ", ".join(sorted(c.type for c in authz.challenges))
            raise AcmeError("%s: the CA offers no %s challenge (offered: %s)" % (ident, challenge_type, offered))
        token = chall.token
        if not token or not all(ch.isalnum() or ch in "-_" for ch in token) or not chall.url:
            raise AcmeResponseError("%s: the CA sent an unusable challenge token" % ident)
        pending.append(_Pending(url, ident, Challenge(ident, challenge_type, token, "%s.%s" % (token, thumb)),
                                chall.url, chall.status))
    return pending


def _authorization(client: "AcmeClient", url: str) -> Authorization:
    return Authorization.parse(client.post_as_get(url).json or {}, url)


def _answer(client: "AcmeClient", pending: List[_Pending]) -> None:
    """POST {} to each pending challenge (§7.5.1). The reply is the challenge: a CA that has
    already failed it says so there, and then there is nothing to wait for."""
    failures = []
    for p in pending:
        if p.status != "pending":
            continue
        chall = messages.Challenge.parse(client.post(p.challenge_url, {}).json or {}, p.challenge_url)
        if chall.status == "invalid":
            failures.append((p.identifier, _problem_text(chall.error)))
    if failures:
        raise AuthorizationFailed(failures)


def _await_validation(client: "AcmeClient", order_url: str, authz_urls: List[str], poller: "_Poller",
                      first_wait: Optional[float] = None) -> Order:
    """Poll the order and every unfinished authorization together until the order leaves
    `pending`; AuthorizationFailed as soon as any authorization has failed."""
    if first_wait is not None:
        poller.wait(first_wait, "validation")
    unfinished = list(authz_urls)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_POLLS, 1 + len(unfinished))) as pool:
        while True:
            replies = list(pool.map(client.post_as_get, [order_url] + unfinished))
            authzs = [Authorization.parse(r.json or {}, u) for u, r in zip(unfinished, replies[1:])]
            failures = _authz_failures(authzs)
            if failures:
                raise AuthorizationFailed(failures)
            order = Order.parse(replies[0].json or {}, order_url)
            if order.status != "pending":
                return order
            unfinished = [a.url for a in authzs if a.status != "valid"]
            poller.wait(_longest_retry_after(replies), "validation")


def _authz_failures(authzs: List[Authorization]) -> List[Tuple[str, str]]:
    """(name, the CA's reason) for every authorization that is neither pending nor valid."""
    failures = []
    for authz in authzs:
        if authz.status in ("pending", "valid"):
            continue
        reason = _authz_error(authz)
        failures.append((authz.identifier, reason if authz.status == "invalid" else
                         "authorization is %s: %s" % (authz.status, reason)))
    return failures


def _authz_error(authz: Authorization) -> str:
    """The error of the authorization's failed challenge (type, detail, subproblems)."""
    return _problem_text(authz.failed_challenge_error())


def _problem_text(err: Optional[Problem]) -> str:
    """'type: detail; name: type detail' from a problem document, NO_REASON when there is none."""
    return err.error().describe() if err is not None else NO_REASON


def _longest_retry_after(replies: List["Response"]) -> Optional[int]:
    waits = [r.retry_after for r in replies if r.retry_after is not None]
    return max(waits) if waits else None


class _Poller:
    """Backoff between polls, Retry-After first, within one deadline."""

    def __init__(self, opts: OrderOptions) -> None:
        self.opts, self.delay, self.count = opts, POLL_FIRST, 0
        self.deadline = time.monotonic() + opts.timeout

    def wait(self, retry_after: Optional[float], what: str) -> None:
        if time.monotonic() >= self.deadline:
            raise OrderFailed("gave up waiting for %s after %.0f s" % (what, self.opts.timeout))
        delay = self.delay if retry_after is None else min(max(retry_after, 0.05), 60.0)
        delay = min(delay, max(0.0, self.deadline - time.monotonic()))
        self.delay = min(self.delay * POLL_FACTOR, POLL_MAX)
        self.count += 1
        self.opts.sleep(delay)


def _clean_up(solver: "Solver", challenges: List[Challenge], opts: OrderOptions) -> None:
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

def _finalize(client: "AcmeClient", order: Order, csr_der: bytes, poller: _Poller) -> Order:
    """From a validated order to a valid one: finalize when ready, wait while processing."""
    if order.status == "ready":
        retry_after: float = POLL_FIRST
        if not order.finalize:
            raise AcmeResponseError("the ready order has no finalize URL")
        try:
            resp = client.post(order.finalize, {"csr": jose.b64u(csr_der)})
            order = Order.parse(resp.json or {}, order.url)
            retry_after = resp.retry_after if resp.retry_after is not None else POLL_FIRST
        except AcmeProblem as e:
            if e.code != "orderNotReady":
                raise
        if order.status != "valid":
            order = _poll_order(client, order.url, poller, first_wait=retry_after)
    elif order.status == "processing":       # the CA handed back an order already being finalized
        order = _poll_order(client, order.url, poller)
    if order.status == "invalid":
        _report_failures(client, order)
    if order.status != "valid":
        raise OrderFailed("the order ended %r instead of valid" % order.status)
    return order


def _poll_order(client: "AcmeClient", order_url: str, poller: _Poller, first_wait: Optional[float] = None) -> Order:
    """POST-as-GET the order until it is valid or invalid; first_wait before the first poll."""
    if first_wait is not None:
        poller.wait(first_wait, "issuance")
    while True:
        resp = client.post_as_get(order_url)
        order = Order.parse(resp.json or {}, order_url)
        if order.status in ("valid", "invalid"):
            return order
        poller.wait(resp.retry_after, "issuance")


def _report_failures(client: "AcmeClient", order: Order) -> None:
    """An invalid order: the authorizations' reasons when one failed, else the order's error."""
    failures = _authz_failures([_authorization(client, url) for url in order.authorizations])
    if failures:
        raise AuthorizationFailed(failures)
    detail = order.error.detail if order.error is not None else ""
    raise OrderFailed("the order became invalid: %s" % (detail or "no detail from the CA"))


# --- 4. download (§7.4.2) ----------------------------------------------------------------------

def download(client: "AcmeClient", cert_url: str, preferred_chain: Optional[str] = None) -> Tuple[str, int]:
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


def _chain_matches(pem: str, issuer_cn: str) -> bool:
    """certbot's rule: the issuer CN of the top-most certificate in the chain."""
    from acme_aliyun.pki import issuer_cn as _issuer_cn, split_pem_chain
    certs = split_pem_chain(pem)
    if not certs:
        return False
    top = x509.load_pem_x509_certificate(certs[-1].encode("ascii"))
    return _issuer_cn(top) == issuer_cn


# --- revocation (§7.6) --------------------------------------------------------------------------

def revoke(client: "AcmeClient", cert_der: bytes, reason: Optional[int] = None, cert_key: Any = None) -> None:
    """§7.6: signed by the account (kid) or, with cert_key, by the certificate's own key (jwk)."""
    payload: Any = {"certificate": jose.b64u(cert_der)}
    if reason is not None:
        payload["reason"] = reason
    url = client.directory["revokeCert"]
    if cert_key is not None:
        client.post(url, payload, key=cert_key, use_jwk=True, want_json=False)
    else:
        client.post(url, payload, want_json=False)
