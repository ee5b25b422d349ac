"""protocol/order against the fake CA: the steps Pebble takes one way only.

Alternate chains and PreferredChain, the poll schedule (backoff, Retry-After, its
bounds, the deadline), what newOrder sends (profile, replaces), the progress lines,
and the odd answers a CA may give (no Location, no certificate URL, an unknown
status, an authorization already failed or expired). Each test compares the whole
outcome: the exact message, the exact sleeps, the exact requests.
"""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from acme_aliyun import pki
from acme_aliyun.protocol import order
from acme_aliyun.protocol.errors import AcmeError, AcmeResponseError, AuthorizationFailed, OrderFailed
from tests.fakeca import ACME_ERROR, PEM_CHAIN, FakeCA, Reply, Scenario, problem
from tests.protocol.test_order_flow import NAMES, Solver, _client

FIRST_WAIT = 0.1 + 0.004 * len(NAMES)      # order._authorize: the wait before the first validation poll


@pytest.fixture
def ca(tmp_path):
    with FakeCA(tmp_path / "ca") as ca:
        yield ca


def _run(ca, timeout=10.0, names=NAMES, **opts):
    """obtain() with recorded sleeps and progress; (Issued or the exception, sleeps, progress lines)."""
    result, sleeps, lines = _run_with(ca, Solver(), timeout, names=names, **opts)
    return result, sleeps, [msg for msg, _ in lines]


def _self_signed_pem(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- download: the default chain, alternates, PreferredChain ----------------------------------------

def _with_alternates(ca, tops):
    """The certificate URL answers the default chain with a Link to one alternate per top CN;
    /cert/<oid>-alt<i> answers the leaf under that top."""
    def reply(seen):
        oid, _, alt = seen.path.rsplit("/", 1)[1].partition("-alt")
        pem = ca._orders[oid]["pem"]
        if alt:
            leaf = pki.split_pem_chain(pem)[0]
            return Reply(200, (leaf + tops[int(alt)]).encode("ascii"), PEM_CHAIN)
        links = ", ".join('<%s>;rel="alternate"' % ca._url("/cert/%s-alt%d" % (oid, i)) for i in range(len(tops)))
        return Reply(200, pem.encode("ascii"), PEM_CHAIN, headers={"Link": links})
    return reply


def test_preferred_chain_picks_the_matching_alternate_and_counts_every_chain(ca):
    tops = [_self_signed_pem("Alt Root A"), _self_signed_pem("Alt Root B")]
    ca.scenario = Scenario(replies={"cert": _with_alternates(ca, tops)})
    issued, _, _ = _run(ca, preferred_chain="Alt Root B")
    assert issued.chains_offered == 3 and issued.certificate_pem.endswith(tops[1])
    assert ca.count("cert") == 3                       # the default, then each alternate until the match
    issued, _, _ = _run(ca, preferred_chain="Alt Root A")
    assert issued.certificate_pem.endswith(tops[0]) and ca.count("cert") == 5    # stops at the first match
    issued, _, _ = _run(ca)
    assert issued.chains_offered == 3 and issued.certificate_pem.endswith(ca.root_pem)
    assert ca.count("cert") == 6                       # no preference: the alternates are not fetched
    issued, _, _ = _run(ca, preferred_chain="No Such Root")
    assert issued.chains_offered == 3 and issued.certificate_pem.endswith(ca.root_pem)
    assert ca.count("cert") == 9


def test_a_download_that_is_not_a_pem_chain_is_refused(ca):
    ca.scenario = Scenario(replies={"cert": Reply(200, b"-----BEGIN CERTIFICATE-----", "text/plain; charset=utf-8")})
    err, _, _ = _run(ca)
    assert isinstance(err, AcmeResponseError)
    assert str(err) == "certificate download answered Content-Type 'text/plain'"
    ca.scenario = Scenario(replies={"cert": Reply(200, b"x", None)})
    err, _, _ = _run(ca)
    assert str(err) == "certificate download answered Content-Type 'none'"


def test_chain_matching_reads_the_top_certificate_issuer():
    top = _self_signed_pem("Alt Root A")
    assert order._chain_matches(top, "Alt Root A")
    assert not order._chain_matches(top, "Alt Root")
    assert not order._chain_matches("", "Alt Root A")


# --- the poll schedule -------------------------------------------------------------------------------

def _pending_for(ca, polls):
    """The order reads `pending` (authorizations valid) for the first `polls` order polls."""
    seen_polls = []

    def reply(seen):
        oid = seen.path.rsplit("/", 1)[1]
        if ca._orders[oid]["status"] == "ready" and len(seen_polls) < polls:
            seen_polls.append(seen.path)
            headers = {"Retry-After": ca.scenario.retry_after} if ca.scenario.retry_after else {}
            return Reply(200, dict(ca._order_json(oid), status="pending"), headers=headers)
        return None
    return reply


def test_polls_back_off_from_50_ms_by_1_6_and_progress_is_reported(ca):
    ca.scenario = Scenario(replies={"order": _pending_for(ca, 4)})
    issued, sleeps, lines = _run(ca)
    assert sleeps[0] == pytest.approx(FIRST_WAIT)
    # every wait is a backoff step (the first one too): four pending polls wait 80 ms on by x1.6;
    # finalize gave no Retry-After, so the first issuance wait is 50 ms
    assert sleeps[1:] == pytest.approx([0.08, 0.128, 0.2048, 0.32768, 0.05])
    assert issued.polls == len(sleeps) == 6
    assert lines == ["presenting 2 http-01 challenge(s)", "waiting for the CA to validate 2 name(s)"]


def test_backoff_stops_at_five_seconds():
    opts = order.OrderOptions("http-01", timeout=1000, sleep=[].append)
    poller = order._Poller(opts)
    for _ in range(12):
        poller.wait(None, "validation")
    assert opts.sleep.__self__[-3:] == pytest.approx([3.4359738368, 5.0, 5.0])
    assert poller.count == 12


@pytest.mark.parametrize("header, wait", [("3", 3.0), ("0", 0.05), ("120", 60.0)])
def test_retry_after_is_followed_within_50_ms_and_a_minute(ca, header, wait):
    ca.scenario = Scenario(replies={"order": _pending_for(ca, 1)}, retry_after=header)
    _, sleeps, _ = _run(ca, timeout=100)
    assert sleeps[:2] == pytest.approx([FIRST_WAIT, wait])


def test_a_retry_after_past_the_deadline_waits_only_until_the_deadline():
    opts = order.OrderOptions("http-01", timeout=2.0, sleep=[].append)
    order._Poller(opts).wait(30, "validation")
    [slept] = opts.sleep.__self__
    assert 1.5 < slept <= 2.0


def test_a_wait_never_passes_a_deadline_less_than_a_second_away():
    opts = order.OrderOptions("http-01", timeout=0.5, sleep=[].append)
    order._Poller(opts).wait(30, "validation")
    [slept] = opts.sleep.__self__
    assert 0.0 < slept <= 0.5


def test_the_deadline_ends_the_wait_with_what_was_awaited(ca):
    ca.scenario = Scenario(validation="never")
    err, sleeps, _ = _run(ca, timeout=1.4)
    assert isinstance(err, OrderFailed) and str(err) == "gave up waiting for validation after 1 s"
    opts = order.OrderOptions("http-01", timeout=0, sleep=[].append)
    with pytest.raises(OrderFailed, match="^gave up waiting for issuance after 0 s$"):
        order._Poller(opts).wait(None, "issuance")
    assert opts.sleep.__self__ == []


def test_a_finalize_reply_with_retry_after_sets_the_first_issuance_wait(ca):
    def finalize(seen):
        reply = ca._ep_finalize(seen, seen.path.rsplit("/", 1)[1])
        reply.headers["Retry-After"] = "2"
        return reply
    ca.scenario = Scenario(replies={"finalize": finalize})
    issued, sleeps, _ = _run(ca)
    assert sleeps == pytest.approx([FIRST_WAIT, 2.0]) and issued.polls == 2


# --- newOrder ------------------------------------------------------------------------------------

def test_new_order_sends_profile_and_replaces_only_where_the_ca_offers_them(ca):
    profiles = {"meta": {"profiles": {"classic": "the usual", "shortlived": "6 days"}}}
    ca.scenario = Scenario(directory_extra=profiles)
    client = _client(ca)
    try:
        created = order.new_order(client, NAMES, profile="shortlived", replaces="aYhb.AIdlQyE")
        assert created.url == ca._url("/order/1") and created.status == "pending"
        with pytest.raises(AcmeError) as err:
            order.new_order(client, NAMES, profile="tlsserver")
        assert str(err.value) == "the CA does not offer profile 'tlsserver' (offered: classic, shortlived)"
    finally:
        client.close()
    ids = [{"type": "dns", "value": n} for n in NAMES]
    assert [s.payload for s in ca.seen("newOrder")] == [{"identifiers": ids, "profile": "shortlived"}]
    ca.scenario = Scenario(ari_window=(datetime.datetime(2030, 1, 1), datetime.datetime(2030, 1, 2)))
    client = _client(ca)
    try:
        order.new_order(client, NAMES, replaces="aYhb.AIdlQyE")
        order.new_order(client, NAMES)
    finally:
        client.close()
    assert [s.payload for s in ca.seen("newOrder")][1:] == [{"identifiers": ids, "replaces": "aYhb.AIdlQyE"},
                                                           {"identifiers": ids}]


def test_new_order_without_location_is_refused(ca):
    ca.scenario = Scenario(replies={"newOrder": Reply(201, {"status": "pending", "authorizations": []})})
    err, _, _ = _run(ca)
    assert isinstance(err, AcmeResponseError) and str(err) == "newOrder gave no Location for the order"


# --- odd answers -------------------------------------------------------------------------------------

def test_a_valid_order_without_certificate_url_is_refused(ca):
    def no_cert(seen):
        reply = ca._ep_order(seen, seen.path.rsplit("/", 1)[1])
        reply.body.pop("certificate", None)
        return reply
    ca.scenario = Scenario(replies={"order": no_cert})
    err, _, _ = _run(ca)
    assert isinstance(err, AcmeResponseError) and str(err) == "the valid order has no certificate URL"


@pytest.mark.parametrize("endpoint", ["validation", "issuance"])
def test_an_unknown_order_status_is_refused(ca, endpoint):
    def odd(seen):
        oid = seen.path.rsplit("/", 1)[1]
        wanted = "pending" if endpoint == "validation" else "processing"
        if endpoint == "validation" or ca._orders[oid]["status"] == wanted:
            return Reply(200, dict(ca._order_json(oid), status="paused"))
        return None
    ca.scenario = Scenario(replies={"order": odd}, after_finalize="processing" if endpoint == "issuance" else "valid")
    err, _, _ = _run(ca)
    assert isinstance(err, AcmeResponseError) and str(err).endswith("/order/1: the order has an unknown status 'paused'")


def test_an_authorization_already_failed_or_expired_is_reported_before_presenting(ca):
    def expired(seen):
        aid = seen.path.rsplit("/", 1)[1]
        if not aid.endswith("-1"):
            return None
        doc = ca._ep_authz(seen, aid).body
        doc["status"] = "expired"
        return Reply(200, doc)
    ca.scenario = Scenario(replies={"authz": expired})
    err, _, lines = _run(ca)
    assert isinstance(err, AuthorizationFailed)
    assert err.failures == [(NAMES[1], "authorization is expired: " + order.NO_REASON)]
    assert lines == [] and ca.count("challenge") == 0


def test_an_authorization_that_expires_while_polled_names_its_status(ca):
    def deactivated_once_answered(seen):
        aid = seen.path.rsplit("/", 1)[1]
        reply = ca._ep_authz(seen, aid)
        if aid.endswith("-1") and ca.count("challenge") >= 2:
            reply.body["status"] = "deactivated"
            reply.body["challenges"][0]["error"] = {"type": ACME_ERROR + "unauthorized", "detail": "gone"}
        return reply
    ca.scenario = Scenario(replies={"authz": deactivated_once_answered, "order": _pending_for(ca, 10)})
    err, _, _ = _run(ca)
    assert isinstance(err, AuthorizationFailed)
    assert err.failures == [(NAMES[1], "authorization is deactivated: unauthorized: gone")]


def test_a_challenge_reply_that_already_says_invalid_ends_the_order(ca):
    ca.scenario = Scenario(challenge_reply="outcome", failing_names={NAMES[0]: {
        "type": ACME_ERROR + "dns", "detail": "no such host"}})
    err, sleeps, _ = _run(ca)
    assert isinstance(err, AuthorizationFailed) and err.failures == [(NAMES[0], "dns: no such host")]
    assert sleeps == [] and ca.count("order") == 0     # nothing to wait for


def test_finalize_refused_as_not_ready_is_polled_and_other_problems_are_raised(ca):
    def finalized_elsewhere(seen):
        """Another finalize got there first: the order is already processing this CSR."""
        ca._ep_finalize(seen, seen.path.rsplit("/", 1)[1])
        return problem("orderNotReady", "order is processing", 403)
    ca.scenario = Scenario(replies={"finalize": finalized_elsewhere})
    issued, sleeps, _ = _run(ca)
    assert isinstance(issued, order.Issued) and ca.count("finalize") == 1
    assert sleeps[1:] == pytest.approx([0.05]) and issued.polls == 2     # polled to valid after 50 ms
    ca.scenario = Scenario(replies={"finalize": problem("badCSR", "key too weak")})
    before = ca.count("order")
    err, _, _ = _run(ca)
    assert getattr(err, "code", None) == "badCSR" and ca.count("order") == before + 1   # no issuance poll


# --- reasons: which error is quoted ----------------------------------------------------------------

def _authz(*challenges):
    """An authorization as the protocol boundary parses it (typed messages)."""
    from acme_aliyun.protocol.messages import Authorization
    return Authorization.parse({"identifier": {"type": "dns", "value": "a.test"}, "status": "invalid",
                                "challenges": list(challenges)}, "https://ca.test/authz/1")


def test_the_failed_challenge_error_is_quoted_not_an_older_one():
    old = {"type": ACME_ERROR + "connection", "detail": "an earlier attempt"}
    new = {"type": ACME_ERROR + "dns", "detail": "no such host"}
    authz = _authz({"type": "http-01", "status": "pending", "error": old},
                   {"type": "dns-01", "status": "invalid", "error": new})
    assert order._authz_error(authz) == "dns: no such host"
    assert order._authz_error(_authz({"type": "http-01", "status": "pending", "error": old})) == \
        "connection: an earlier attempt"
    assert order._authz_error(_authz({"type": "http-01", "status": "invalid"})) == order.NO_REASON


def test_problem_text_needs_a_problem_document():
    from acme_aliyun.protocol.messages import Problem
    assert order._problem_text(Problem.parse("boom")) == order.NO_REASON
    assert order._problem_text(Problem.parse({"status": 400})) == order.NO_REASON
    assert order._problem_text(Problem.parse({"type": ACME_ERROR + "dns"})) != order.NO_REASON
    assert order._problem_text(Problem.parse({"detail": "no such host"})) != order.NO_REASON


def _invalid_after_finalize(ca, authz_error=None, order_detail=True, order_error=True):
    """After finalize the order turns invalid; authorization -1 then reads invalid with authz_error,
    without order_detail the order carries an error with no detail, without order_error none at all."""
    def authz(seen):
        aid = seen.path.rsplit("/", 1)[1]
        reply = ca._ep_authz(seen, aid)
        if authz_error and aid.endswith("-1") and ca._orders[aid.split("-")[0]]["status"] == "invalid":
            reply.body["status"] = "invalid"
            reply.body["challenges"][0].update(status="invalid", error=authz_error)
        return reply

    def order_reply(seen):
        reply = ca._ep_order(seen, seen.path.rsplit("/", 1)[1])
        if not order_detail and "error" in reply.body:
            reply.body["error"] = {"type": ACME_ERROR + "serverInternal"}
        if not order_error:
            reply.body.pop("error", None)
        return reply
    return Scenario(after_finalize="invalid", replies={"authz": authz, "order": order_reply})


def test_an_order_invalid_after_finalize_quotes_the_failed_authorization_first(ca):
    ca.scenario = _invalid_after_finalize(ca, {"type": ACME_ERROR + "caa", "detail": "CAA forbids"})
    err, _, _ = _run(ca)
    assert isinstance(err, AuthorizationFailed) and err.failures == [(NAMES[1], "caa: CAA forbids")]
    ca.scenario = _invalid_after_finalize(ca, order_detail=False)
    err, _, _ = _run(ca)
    assert isinstance(err, OrderFailed) and str(err) == "the order became invalid: no detail from the CA"
    ca.scenario = _invalid_after_finalize(ca, order_error=False)        # invalid, and no error document
    err, _, _ = _run(ca)
    assert isinstance(err, OrderFailed) and str(err) == "the order became invalid: no detail from the CA"


def test_a_chain_with_bytes_outside_ascii_is_read_not_refused(ca):
    """Text around the PEM blocks is the CA's business; a stray non-ASCII byte must not crash the download."""
    tops = [_self_signed_pem("Alt Root A")]
    plain = _with_alternates(ca, tops)

    def reply(seen):
        r = plain(seen)
        return Reply(r.status, r.body + "\n# g\u00e9n\u00e9r\u00e9\n".encode("utf-8"), r.ctype, r.headers)
    ca.scenario = Scenario(replies={"cert": reply})
    for preferred, top in ((None, ca.root_pem), ("Alt Root A", tops[0])):
        issued, _, _ = _run(ca, preferred_chain=preferred)
        assert isinstance(issued, order.Issued), issued
        assert top in issued.certificate_pem and issued.certificate_pem.rstrip().endswith("\ufffd\ufffdr\ufffd\ufffd")


# --- finalize and the issuance wait ---------------------------------------------------------------

def test_a_finalize_answered_valid_is_not_polled_again(ca):
    def finalize_now(seen):
        oid = seen.path.rsplit("/", 1)[1]
        ca._ep_finalize(seen, oid)
        ca._finish(oid)
        return Reply(200, ca._order_json(oid))
    ca.scenario = Scenario(replies={"finalize": finalize_now})
    issued, sleeps, _ = _run(ca)
    assert isinstance(issued, order.Issued) and ca.count("order") == 1    # the validation poll only
    assert sleeps == pytest.approx([FIRST_WAIT]) and issued.polls == 1


def test_an_order_handed_back_processing_is_waited_for_with_backoff(ca):
    """The CA finalizes on its own and stays `processing` for two more polls."""
    csr = pki.make_csr(pki.generate_key("ec-256"), NAMES)
    answered = []

    def reply(seen):
        oid = seen.path.rsplit("/", 1)[1]
        o = ca._orders[oid]
        if o["status"] == "ready":
            o["csr"], o["status"] = csr, "processing"
        if o["status"] == "processing" and len(answered) < 3:
            answered.append(oid)
            return Reply(200, ca._order_json(oid))
        return None
    ca.scenario = Scenario(replies={"order": reply})
    issued, sleeps, _ = _run(ca)
    assert isinstance(issued, order.Issued) and ca.count("finalize") == 0
    assert sleeps == pytest.approx([FIRST_WAIT, 0.08, 0.128]) and issued.polls == 3


def test_an_order_ready_at_once_waits_for_issuance_within_the_deadline(ca):
    """newOrder answers `ready` (every authorization already valid): no challenge, straight to finalize;
    a spent deadline names the issuance wait."""
    def ready(seen):
        reply = ca._ep_newOrder(seen)
        oid = reply.headers["Location"].rsplit("/", 1)[1]
        for aid in ca._orders[oid]["authzs"]:
            ca._authzs[aid]["status"] = "valid"
        ca._orders[oid]["status"] = "ready"
        return Reply(reply.status, ca._order_json(oid), headers=reply.headers)
    ca.scenario = Scenario(replies={"newOrder": ready}, after_finalize="processing")
    err, sleeps, lines = _run(ca, timeout=0)
    assert isinstance(err, OrderFailed) and str(err) == "gave up waiting for issuance after 0 s"
    assert sleeps == [] and lines == [] and ca.count("finalize") == 1 and ca.count("challenge") == 0


def test_no_matching_chain_is_logged_whole(ca, caplog):
    import logging
    ca.scenario = Scenario(replies={"cert": _with_alternates(ca, [_self_signed_pem("Alt Root A")])})
    with caplog.at_level(logging.INFO, logger="acme_aliyun.protocol.order"):
        issued, _, _ = _run(ca, preferred_chain="No Such Root")
    assert [r.getMessage() for r in caplog.records if r.name == "acme_aliyun.protocol.order"] == [
        "no chain matches PreferredChain 'No Such Root'; keeping the default chain"]
    assert issued.certificate_pem.endswith(ca.root_pem)


def test_issuance_polls_accept_every_unfinished_status_and_follow_retry_after(ca):
    """After finalize the order reads pending, ready, then processing (each with Retry-After: 1)
    before it turns valid: all three are waited on, one second each."""
    script = ["pending", "ready", "processing"]

    def reply(seen):
        oid = seen.path.rsplit("/", 1)[1]
        if ca._orders[oid]["status"] == "processing" and script:
            return Reply(200, dict(ca._order_json(oid), status=script.pop(0)), headers={"Retry-After": "1"})
        return None
    ca.scenario = Scenario(replies={"order": reply})
    issued, sleeps, _ = _run(ca)
    assert isinstance(issued, order.Issued) and script == []
    assert sleeps == pytest.approx([FIRST_WAIT, 0.05, 1.0, 1.0, 1.0]) and issued.polls == 5


def test_a_deadline_reached_while_issuance_is_polled_names_the_issuance(ca):
    ca.scenario = Scenario(after_finalize="processing")      # finalized, never issued
    err, sleeps, _ = _run(ca, timeout=1.4)
    assert isinstance(err, OrderFailed) and str(err) == "gave up waiting for issuance after 1 s"
    assert sleeps[:2] == pytest.approx([FIRST_WAIT, 0.05]) and len(sleeps) > 2    # past the first issuance wait


# --- what is presented and answered ------------------------------------------------------------------

class _Recorder(Solver):
    """Keeps the challenges it was given; its DNS-style wait reports through the progress it was handed."""

    def __init__(self):
        super().__init__()
        self.presented = []

    def present(self, challenges):
        super().present(challenges)
        self.presented.extend(challenges)

    def wait_until_visible(self, challenges, timeout=None):
        super().wait_until_visible(challenges, timeout)
        self.progress("waiting for %d TXT record(s)" % len(challenges), limit=7)


def _run_with(ca, solver, timeout=10.0, names=NAMES, **opts):
    """obtain() through solver; (Issued or the exception, sleeps, (progress line, limit) pairs)."""
    sleeps, lines = [], []
    client = _client(ca)
    csr = pki.csr_der(pki.make_csr(pki.generate_key("ec-256"), names))
    options = order.OrderOptions("http-01", timeout=timeout, sleep=sleeps.append,
                                 progress=lambda msg, limit=None: lines.append((msg, limit)), **opts)
    try:
        try:
            result = order.obtain(client, names, csr, solver, options)
        except AcmeError as e:
            result = e
    finally:
        client.close()
    return result, sleeps, lines


def test_the_key_authorization_is_the_token_and_the_account_thumbprint(ca):
    from tests.fakeca import _thumbprint
    solver, journal = _Recorder(), []
    issued, _, lines = _run_with(ca, solver, on_challenges=journal.append)
    assert isinstance(issued, order.Issued)
    assert journal == [solver.presented]            # the journal gets what is presented
    assert issued.order_url == ca._url("/order/1")
    [new_order] = ca.seen("newOrder")
    thumb = _thumbprint(ca.seen("newAccount")[-1].protected["jwk"])
    tokens = {ca._authzs[a]["identifier"]: ca._challenges[c]["token"]
              for a in ca._orders["1"]["authzs"] for c in ca._authzs[a]["challenges"]
              if ca._challenges[c]["type"] == "http-01"}
    assert [(c.identifier, c.type, c.token, c.key_authorization) for c in solver.presented] == [
        (n, "http-01", tokens[n], "%s.%s" % (tokens[n], thumb)) for n in NAMES]
    assert lines == [("presenting 2 http-01 challenge(s)", None), ("waiting for 2 TXT record(s)", 7),
                     ("waiting for the CA to validate 2 name(s)", 10.0)]
    assert new_order.payload == {"identifiers": [{"type": "dns", "value": n} for n in NAMES]}


def _valid_at_once(ca, which):
    """newOrder finds the authorizations `which` (indexes) already valid; the order turns ready when
    it is polled with every authorization valid."""
    def new(seen):
        reply = ca._ep_newOrder(seen)
        oid = reply.headers["Location"].rsplit("/", 1)[1]
        for i in which:
            ca._authzs[ca._orders[oid]["authzs"][i]]["status"] = "valid"
        return Reply(reply.status, ca._order_json(oid), headers=reply.headers)

    polls = []

    def poll(seen):
        oid = seen.path.rsplit("/", 1)[1]
        o = ca._orders[oid]
        if o["status"] == "pending" and all(ca._authzs[a]["status"] == "valid" for a in o["authzs"]):
            polls.append(oid)
            if len(polls) > 1:          # the CA takes one more poll to see it
                o["status"] = "ready"
        return None
    return Scenario(replies={"newOrder": new, "order": poll})


def test_valid_authorizations_are_neither_presented_nor_watched(ca):
    ca.scenario = _valid_at_once(ca, [0])
    solver = _Recorder()
    issued, _, _ = _run_with(ca, solver)
    assert isinstance(issued, order.Issued)
    assert [c.identifier for c in solver.presented] == [NAMES[1]]
    assert [s.path for s in ca.seen("authz")] == ["/authz/1-0", "/authz/1-1", "/authz/1-1"]   # fetched, then polled
    assert ca.count("challenge") == 1


def test_an_order_with_every_authorization_valid_presents_nothing(ca):
    ca.scenario = _valid_at_once(ca, [0, 1])
    solver, cleaned = _Recorder(), []
    issued, sleeps, lines = _run_with(ca, solver, on_challenges=cleaned.append, on_cleaned=lambda: cleaned.append(1))
    assert isinstance(issued, order.Issued)
    assert solver.calls == [] and cleaned == [] and lines == [] and ca.count("challenge") == 0
    assert sleeps == pytest.approx([0.05, 0.05]) and issued.polls == 2     # one validation, one issuance wait


def test_a_challenge_already_answered_is_not_answered_again(ca):
    """A previous run answered the first name's challenge (it is `processing`): only the second is POSTed."""
    def new(seen):
        reply = ca._ep_newOrder(seen)
        oid = reply.headers["Location"].rsplit("/", 1)[1]
        first = ca._authzs[ca._orders[oid]["authzs"][0]]
        ca._challenges[first["challenges"][0]]["status"] = "processing"
        return reply

    def authz(seen):
        aid = seen.path.rsplit("/", 1)[1]
        a = ca._authzs[aid]
        c = ca._challenges[a["challenges"][0]]
        if c["status"] == "processing" and ca.count("challenge"):       # the CA decides once asked again
            c["status"] = a["status"] = "valid"
            o = ca._orders[a["order"]]
            if all(ca._authzs[x]["status"] == "valid" for x in o["authzs"]):
                o["status"] = "ready"
        return None
    ca.scenario = Scenario(replies={"newOrder": new, "authz": authz})
    solver = _Recorder()
    issued, _, _ = _run_with(ca, solver)
    assert isinstance(issued, order.Issued)
    assert [c.identifier for c in solver.presented] == NAMES                     # both are made answerable
    assert [s.path for s in ca.seen("challenge")] == ["/chall/1-1-http-01"]


@pytest.mark.parametrize("change", ["no url", "empty token"])
def test_a_challenge_without_url_or_token_is_refused(ca, change):
    def broken(seen):
        aid = seen.path.rsplit("/", 1)[1]
        reply = ca._ep_authz(seen, aid)
        for c in reply.body["challenges"]:
            if change == "no url":
                c.pop("url")
            else:
                c["token"] = ""
        return reply
    ca.scenario = Scenario(replies={"authz": broken})
    err, _, _ = _run(ca)
    assert isinstance(err, AcmeResponseError) and str(err) == "%s: the CA sent an unusable challenge token" % NAMES[0]


def test_a_deadline_spent_before_the_first_validation_poll_names_the_validation(ca):
    err, sleeps, _ = _run(ca, timeout=0)
    assert isinstance(err, OrderFailed) and str(err) == "gave up waiting for validation after 0 s"
    assert sleeps == [] and ca.count("challenge") == 2 and ca.count("order") == 0


def test_the_download_content_type_is_read_without_case_parameters_or_spaces(ca):
    def reply(seen):
        r = ca._ep_cert(seen, seen.path.rsplit("/", 1)[1])
        return Reply(r.status, r.body, " Application/PEM-Certificate-Chain ; charset=us-ascii", r.headers)
    ca.scenario = Scenario(replies={"cert": reply})
    issued, _, _ = _run(ca)
    assert isinstance(issued, order.Issued) and issued.certificate_pem.endswith(ca.root_pem)


def test_a_ready_order_without_finalize_url_is_refused(ca):
    def no_finalize(seen):
        reply = ca._ep_order(seen, seen.path.rsplit("/", 1)[1])
        if reply.body["status"] == "ready":
            reply.body.pop("finalize")
        return reply
    ca.scenario = Scenario(replies={"order": no_finalize})
    err, _, _ = _run(ca)
    assert isinstance(err, AcmeResponseError) and str(err) == "the ready order has no finalize URL"
    assert ca.count("finalize") == 0


def test_a_challenge_reply_with_an_unknown_status_names_the_challenge(ca):
    ca.scenario = Scenario(replies={"challenge": lambda seen: Reply(200, {"type": "http-01", "status": "frozen"})})
    err, _, _ = _run(ca)
    assert isinstance(err, AcmeResponseError)
    assert str(err) == "%s: a challenge has an unknown status 'frozen'" % ca._url("/chall/1-0-http-01")


def test_validation_polls_keep_eight_requests_in_flight_at_most(ca):
    """Twelve names: each round asks for the order and twelve authorizations, eight at a time. The
    authorization replies wait until eight are in flight together (or give up after 5 s)."""
    import threading
    names = ["n%02d.flow.example.test" % i for i in range(12)]
    state = {"now": 0, "peak": 0}
    cond = threading.Condition()

    def authz(seen):
        if not ca.count("challenge"):
            return None                                    # the first fetch, before answering: no waiting
        ca._lock.release()              # the fake CA answers under one lock: let the others in meanwhile
        try:
            with cond:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
                cond.notify_all()
                cond.wait_for(lambda: state["peak"] >= order.MAX_PARALLEL_POLLS, timeout=5)
                state["now"] -= 1
        finally:
            ca._lock.acquire()
        return None
    ca.scenario = Scenario(replies={"authz": authz})
    issued, _, _ = _run(ca, names=names, timeout=30)
    assert isinstance(issued, order.Issued)
    assert state["peak"] == order.MAX_PARALLEL_POLLS == 8


def test_only_unfinished_authorizations_are_polled_again(ca):
    """The first name validates at once, the second reads pending for two more polls: from then on
    only the second is polled, with the order."""
    import collections
    late = []

    def authz(seen):
        aid = seen.path.rsplit("/", 1)[1]
        if aid.endswith("-1") and ca.count("challenge") == 2 and len(late) < 2:
            late.append(aid)
            reply = ca._ep_authz(seen, aid)
            reply.body["status"] = "pending"
            return reply
        return None
    ca.scenario = Scenario(replies={"authz": authz, "order": _pending_for(ca, 2)})
    issued, sleeps, _ = _run(ca)
    assert isinstance(issued, order.Issued) and len(late) == 2
    polled = collections.Counter(s.path for s in ca.seen("authz")[2:])      # after the two first fetches
    assert polled == {"/authz/1-0": 1, "/authz/1-1": 3}


def test_a_failed_first_authorization_ends_the_wait_while_the_order_stays_pending(ca):
    ca.scenario = Scenario(order_on_failure="pending", failing_names={NAMES[0]: {
        "type": ACME_ERROR + "dns", "detail": "no such host"}})
    err, _, _ = _run(ca)
    assert isinstance(err, AuthorizationFailed) and err.failures == [(NAMES[0], "dns: no such host")]



def test_obtain_sends_replaces_where_the_ca_offers_renewal_info(ca):
    ca.scenario = Scenario(ari_window=(datetime.datetime(2030, 1, 1), datetime.datetime(2030, 1, 2)))
    issued, _, _ = _run(ca, replaces="aYhb.AIdlQyE")
    assert isinstance(issued, order.Issued)
    assert ca.seen("newOrder")[-1].payload["replaces"] == "aYhb.AIdlQyE"


def test_a_missing_challenge_type_lists_every_offered_type(ca):
    client = _client(ca)
    csr = pki.csr_der(pki.make_csr(pki.generate_key("ec-256"), NAMES))
    try:
        with pytest.raises(AcmeError) as err:
            order.obtain(client, NAMES, csr, Solver(), order.OrderOptions("tls-alpn-01", timeout=10,
                                                                          sleep=lambda s: None))
    finally:
        client.close()
    assert str(err.value) == "%s: the CA offers no tls-alpn-01 challenge (offered: dns-01, http-01)" % NAMES[0]


def test_an_authorization_with_an_unknown_status_names_its_url(ca):
    def odd(seen):
        reply = ca._ep_authz(seen, seen.path.rsplit("/", 1)[1])
        reply.body["status"] = "paused"
        return reply
    ca.scenario = Scenario(replies={"authz": odd})
    err, _, _ = _run(ca)
    assert isinstance(err, AcmeResponseError)
    assert str(err) == "%s: an authorization has an unknown status 'paused'" % ca._url("/authz/1-0")


@pytest.mark.parametrize("names, wait", [(1, 0.104), (100, 0.5), (225, 1.0), (230, 1.0), (1000, 1.0)])
def test_the_first_validation_poll_waits_a_moment_a_name_and_at_most_a_second(names, wait):
    assert order.first_poll_wait(names) == pytest.approx(wait)
