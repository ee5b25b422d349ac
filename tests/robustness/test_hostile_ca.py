"""A hostile ACME server (tests/fakeca.py) against the real tool.

For every scenario the tool must: exit 1 with one line naming the problem and
no traceback, save nothing (or leave a stored certificate byte for byte),
deploy nothing, and leave no challenge behind. The scenarios live in one table;
a few run the CLI as a separate process, the rest in-process (fast, and the
order timeout can be made short).
"""

import contextlib
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import pytest

from acme_aliyun import cli
from acme_aliyun.store import Store
from tests.aliyun_emulator import Emulator, EmulatorConfig
from tests.certcheck import check_stored
from tests.conftest import run_cli, write_ini
from tests.fakeca import ACME_ERROR, PROBLEM, FakeCA, Reply, Scenario, big_body, problem, redirect
from tests.pebble import make_tls_ca
from tests.served import served_serials, stored_serial

NAME = "site"
DOMAINS = ["hostile.example.test", "www.hostile.example.test"]
CERT_HTTP01 = """
[cert:site]
Domains = hostile.example.test, www.hostile.example.test
Challenge = http-01
Webroot = www
"""
CLOUD_AK, CLOUD_SECRET = "LTAI5tHostileTest0000000", "hostile-test-secret-not-real-000"
ORDER_TIMEOUT = 3           # [acme] ValidationTimeout in these tests, instead of the default 300 s
MB = 1 << 20


# --- extra checks some scenarios add to the common ones -------------------------------------

def body_not_read_to_the_end(ca, out):
    assert not ca.streamed["complete"] and ca.streamed["bytes"] < 25 * MB, ca.streamed
    small_and_fast(ca, out)


def small_and_fast(ca, out):
    assert out.elapsed < 5, "took %.1f s" % out.elapsed
    if out.rss_growth_mb is not None:
        assert out.rss_growth_mb < 30, "peak RSS grew by %.0f MB" % out.rss_growth_mb


def exactly_one_new_order(ca, out):
    assert ca.count("newOrder") == 1, [(s.endpoint, s.status) for s in ca.log]


def bounded_nonce_retries(ca, out):
    posts = ca.count("newAccount", "POST") + ca.count("newOrder", "POST")
    assert 1 < posts <= 30, "%d POSTs" % posts
    assert out.elapsed < 5


def retried_with_backoff(endpoint):
    def check(ca, out):
        seen = ca.seen(endpoint)
        assert 2 <= len(seen) <= 5, "%d requests to %s" % (len(seen), endpoint)
        gaps = [b.at - a.at for a, b in zip(seen, seen[1:])]
        assert min(gaps) >= 0.2, "retried without backoff: %s" % gaps
    return check


def gave_up_in_time(ca, out):
    assert ORDER_TIMEOUT - 0.5 < out.elapsed < ORDER_TIMEOUT + 3, "took %.1f s" % out.elapsed


# --- the scenario table -----------------------------------------------------------------------

@dataclass
class Case:
    scenario: Callable[[str], Scenario]     # gets the base URL of a bystander server on 127.0.0.2
    expect: Tuple[str, ...]                 # regexes the one error line must match
    challenges: bool = False                # the order got as far as presenting challenges
    check: Optional[Callable] = None        # check(ca, outcome): scenario-specific assertions


HTML = Reply(200, b"<html><body>Welcome to nginx!</body></html>", "text/html")
BROKEN_JSON = b'{"newNonce": "http://127.0.0.1/nonce", "newOrder": '
HTML_500 = Reply(500, b"<html><body>500 Internal Server Error</body></html>", "text/html")

CASES = {
    "directory-malformed-json": Case(lambda other: Scenario(replies={"directory": Reply(200, BROKEN_JSON)}),
                                     (r"malformed JSON",)),
    "newOrder-malformed-json": Case(lambda other: Scenario(replies={"newOrder": Reply(201, b"{'status': pending")}),
                                    (r"new-order answered with malformed JSON",)),
    "directory-text-html": Case(lambda other: Scenario(replies={"directory": HTML}), (r"Content-Type 'text/html'",)),
    "newOrder-json-as-text-html": Case(
        lambda other: Scenario(replies={"newOrder": Reply(201, b'{"status": "pending"}', "text/html")}),
        (r"new-order answered with Content-Type 'text/html'",)),
    "certificate-text-html": Case(lambda other: Scenario(replies={"cert": HTML}),
                                  (r"certificate download answered Content-Type 'text/html'",), challenges=True),
    "directory-100MB": Case(lambda other: Scenario(replies={"directory": lambda seen: big_body()}),
                            (r"more than 1048576 bytes",), check=body_not_read_to_the_end),
    "certificate-100MB": Case(lambda other: Scenario(replies={"cert": lambda seen: big_body()}),
                              (r"/cert/\S+ sent more than 1048576 bytes",), challenges=True,
                              check=body_not_read_to_the_end),
    "directory-100MB-gzip-bomb": Case(lambda other: Scenario(replies={"directory": lambda s: big_body(gzip=True)}),
                                      (r"more than 1048576 bytes",), check=small_and_fast),
    "directory-redirect-other-host": Case(lambda other: Scenario(replies={"directory": redirect(other + "/dir")}),
                                          (r"redirect", r"127\.0\.0\.2", r"refusing")),
    "newOrder-redirect-other-host": Case(
        lambda other: Scenario(replies={"newOrder": redirect(other + "/new-order", 307)}),
        (r"redirect", r"127\.0\.0\.2", r"refusing")),
    "leaf-other-public-key": Case(lambda other: Scenario(leaf="other-key"), (r"another public key",), challenges=True),
    "leaf-extra-name": Case(lambda other: Scenario(leaf="extra-name"), (r"intruder\.example\.test", r"refusing"),
                            challenges=True),
    "leaf-missing-name": Case(lambda other: Scenario(leaf="missing-name"),
                              (r"names hostile\.example\.test, the order asked for", r"refusing"), challenges=True),
    "leaf-already-expired": Case(lambda other: Scenario(leaf="expired"), (r"expired|not valid|validity",),
                                 challenges=True),
    "order-stuck-processing": Case(lambda other: Scenario(after_finalize="processing", retry_after="3600"),
                                   (r"gave up waiting for issuance after 3 s",), challenges=True,
                                   check=gave_up_in_time),
    "newOrder-rateLimited": Case(
        lambda other: Scenario(replies={"newOrder": problem(
            "rateLimited", "too many certificates (5) already issued for this exact set of identifiers", 429,
            {"Retry-After": "3600"})}),
        (r"rateLimited: too many certificates", r"retry after 3600 s"), check=exactly_one_new_order),
    "authorization-invalid": Case(
        lambda other: Scenario(failing_names={"www.hostile.example.test": {
            "type": ACME_ERROR + "unauthorized", "status": 403,
            "detail": "Invalid response from http://www.hostile.example.test/.well-known/acme-challenge/x: 404"}}),
        (r"www\.hostile\.example\.test: unauthorized: Invalid response from",), challenges=True),
    "badNonce-storm": Case(lambda other: Scenario(bad_nonce_always=True), (r"nonce",), check=bounded_nonce_retries),
    "directory-500-no-problem": Case(lambda other: Scenario(replies={"directory": HTML_500}),
                                     (r"HTTP 500 without a problem document",),
                                     check=retried_with_backoff("directory")),
    "newOrder-500-no-problem": Case(lambda other: Scenario(replies={"newOrder": HTML_500}),
                                    (r"HTTP 500",), check=retried_with_backoff("newOrder")),
    # issue 12, item 4: malformed shapes are one clear error, never an internal error
    "newOrder-rateLimited-huge-retry-after": Case(
        lambda other: Scenario(replies={"newOrder": problem("rateLimited", "slow down", 429,
                                                            {"Retry-After": "99999999999999"})}),
        (r"rateLimited: slow down", r"retry after 86400 s"), check=exactly_one_new_order),
    "newOrder-subproblems-not-objects": Case(
        lambda other: Scenario(replies={"newOrder": Reply(400, {
            "type": ACME_ERROR + "rejectedIdentifier", "detail": "refused", "status": 400,
            "subproblems": ["oops", 3, {"type": ACME_ERROR + "caa", "identifier": "bare-string"}]}, PROBLEM)}),
        (r"rejectedIdentifier: refused",)),
    "newOrder-problem-identifier-string": Case(
        lambda other: Scenario(replies={"newOrder": Reply(400, {
            "type": ACME_ERROR + "rejectedIdentifier", "detail": "no", "identifier": "hostile.example.test",
            "subproblems": "oops"}, PROBLEM)}),
        (r"rejectedIdentifier: no",)),
    "authz-identifier-string": Case(
        lambda other: Scenario(replies={"authz": Reply(200, {"status": "pending", "identifier": "hostile.example.test",
                                                            "challenges": []})}),
        (r"'identifier' is not an object",)),
    "authz-challenges-not-objects": Case(
        lambda other: Scenario(replies={"authz": Reply(200, {"status": "pending",
                                                            "identifier": {"type": "dns", "value": "x.test"},
                                                            "challenges": ["http-01"]})}),
        (r"'challenges' is not a list of objects",)),
    "order-authorizations-not-strings": Case(
        lambda other: Scenario(replies={"newOrder": Reply(201, {"status": "pending", "authorizations": [{"url": 1}],
                                                               "finalize": "x", "identifiers": []},
                                                          headers={"Location": other + "/order/1"})}),
        (r"'authorizations' is not a list of strings",)),
    # issue 12, item 10: URLs the CA hands back on a host the directory does not name are refused
    "order-authorizations-on-other-host": Case(
        lambda other: Scenario(replies={"newOrder": Reply(201, {
            "status": "pending", "authorizations": [other + "/authz/1-1"], "finalize": other + "/finalize/1",
            "identifiers": [{"type": "dns", "value": d} for d in DOMAINS]}, headers={"Location": other + "/order/1"})}),
        (r"127\.0\.0\.2", r"another host")),
    "order-finalize-on-other-host": Case(
        lambda other: Scenario(replies={"order": lambda seen: Reply(200, {
            "status": "ready", "authorizations": [], "finalize": other + "/finalize/1",
            "identifiers": [{"type": "dns", "value": d} for d in DOMAINS]})}),
        (r"127\.0\.0\.2", r"another host"), challenges=True),
    "order-invalid-after-finalize": Case(
        lambda other: Scenario(after_finalize="invalid", order_error={
            "type": ACME_ERROR + "serverInternal", "detail": "Error finalizing order :: CT log submission failed"}),
        (r"order became invalid: Error finalizing order :: CT log submission failed",), challenges=True),
}


# --- fixtures and helpers ---------------------------------------------------------------------

@dataclass
class Outcome:
    code: int
    out: str
    err: str
    elapsed: float
    rss_growth_mb: Optional[float] = None

    @property
    def err_lines(self):
        return [line for line in self.err.splitlines() if line.strip()]


@dataclass
class Site:
    """One tool installation: acme.ini, state folder, webroot; the fake CA and a bystander on 127.0.0.2."""

    folder: str
    ca: FakeCA
    other: FakeCA
    ini: str = ""

    @property
    def webroot(self):
        return os.path.join(self.folder, "www")

    @property
    def cert_dir(self):
        return os.path.join(self.folder, "state", "certs", NAME)

    def configure(self, ca=None, body=CERT_HTTP01):
        self.ini = write_ini(self.folder, ca or self.ca, body, extra_acme="ValidationTimeout = %d" % ORDER_TIMEOUT)
        return self.ini

    def run(self, capsys, *args):
        """The CLI in this process: `-q -c acme.ini run ARGS`."""
        capsys.readouterr()
        with peak_rss_growth() as rss:
            start = time.monotonic()
            code = cli.main(["-q", "-c", self.ini, "run"] + list(args))
            elapsed = time.monotonic() - start
        cap = capsys.readouterr()
        return Outcome(code, cap.out, cap.err, elapsed, rss.get("mb"))

    def snapshot(self):
        """Every stored file's bytes and every symlink's target, but the order-in-progress files."""
        snap = {}
        for root, dirs, files in os.walk(self.cert_dir):
            for name in dirs + files:
                path = os.path.join(root, name)
                rel = os.path.relpath(path, self.cert_dir)
                if rel in ("pending-key.pem", "challenges.json", "attempts.json"):
                    continue
                if os.path.islink(path):
                    snap[rel] = "-> " + os.readlink(path)
                elif os.path.isfile(path):
                    with open(path, "rb") as fh:
                        snap[rel] = fh.read()
        return snap


@pytest.fixture
def site(tmp_path):
    (tmp_path / "www").mkdir()
    with FakeCA(tmp_path / "ca", webroot=str(tmp_path / "www")) as ca, \
            FakeCA(tmp_path / "other", host="127.0.0.2") as other:
        s = Site(str(tmp_path), ca, other)
        s.configure()
        yield s


pytestmark = pytest.mark.usefixtures("restore_logging")   # tests/conftest.py


def _status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


@contextlib.contextmanager
def peak_rss_growth():
    """{'mb': growth of this process's peak RSS over the block} (Linux). Resets VmHWM, else samples."""
    result = {}
    try:
        base = _status_kb("VmRSS")
    except (OSError, KeyError):
        yield result
        return
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")           # reset the peak to the current RSS
        sampler = None
    except OSError:
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.wait(0.005):
                peak[0] = max(peak[0], _status_kb("VmRSS"))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    try:
        yield result
    finally:
        if sampler is None:
            result["mb"] = (_status_kb("VmHWM") - base) / 1024
        else:
            done.set()
            sampler.join()
            result["mb"] = (max(peak[0], _status_kb("VmRSS")) - base) / 1024


def assert_one_error_line(text_lines, patterns):
    assert len(text_lines) == 1, "expected one line, got:\n" + "\n".join(text_lines)
    line = text_lines[0]
    assert "Traceback" not in line and "internal error" not in line, line
    for p in patterns:
        assert re.search(p, line), "%r does not match %r" % (line, p)
    return line


def assert_nothing_saved(site):
    assert not os.path.lexists(os.path.join(site.cert_dir, "current")), os.listdir(site.cert_dir)
    assert not os.path.lexists(os.path.join(site.cert_dir, "fullchain.pem"))
    assert Store(os.path.join(site.folder, "state")).load(NAME) is None


def assert_no_challenge_left(site):
    folder = os.path.join(site.webroot, ".well-known", "acme-challenge")
    assert not os.path.exists(folder) or os.listdir(folder) == [], os.listdir(folder)


# --- the tests -----------------------------------------------------------------------------------

@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_the_fake_ca_issues_a_good_certificate(site, capsys, tmp_path, tls):
    """Control: a well-behaved fake CA gets a certificate stored, so the failures below are the scenarios'."""
    ca = site.ca
    if tls:
        ca = FakeCA(tmp_path / "tls", tls=make_tls_ca(str(tmp_path)), webroot=site.webroot).start()
        site.configure(ca)
    try:
        out = site.run(capsys)
        assert out.code == 0, out.err
        assert out.err_lines == []
        check_stored(site.cert_dir, ca.root_pem, DOMAINS)
        assert [ok for _, ok in ca.key_authorizations] == [True, True]
        assert ca.violations == []
        assert_no_challenge_left(site)
    finally:
        if tls:
            ca.stop()


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_hostile_ca_fails_cleanly(site, capsys, case):
    site.ca.scenario = case.scenario(site.other.base_url)
    out = site.run(capsys)
    assert out.code == 1, out.out + out.err
    line = assert_one_error_line(out.err_lines, case.expect)
    assert line.startswith("site: issuance failed: "), line
    assert "site" in out.out and "failed" in out.out          # the summary table says so too
    assert_nothing_saved(site)
    assert_no_challenge_left(site)
    # the stage was reached: the challenge files were in the webroot while the CA looked
    assert bool(site.ca.key_authorizations) == case.challenges, site.ca.key_authorizations
    assert all(ok for _, ok in site.ca.key_authorizations)
    assert site.ca.violations == [], "the client broke the protocol: %s" % site.ca.violations
    assert site.other.log == [], "the client followed a redirect to another host"
    assert out.elapsed < 10
    if case.check:
        case.check(site.ca, out)


RENEWAL_CASES = ["leaf-other-public-key", "leaf-already-expired", "certificate-100MB", "authorization-invalid",
                 "newOrder-rateLimited", "order-invalid-after-finalize"]


@pytest.mark.parametrize("name", RENEWAL_CASES)
def test_hostile_renewal_leaves_the_stored_certificate_intact(site, capsys, name):
    first = site.run(capsys)
    assert first.code == 0, first.err
    before = site.snapshot()
    assert "current" in before and "versions" not in before
    site.ca.scenario = CASES[name].scenario(site.other.base_url)
    out = site.run(capsys, "--force")
    assert out.code == 1, out.out + out.err
    assert_one_error_line(out.err_lines, CASES[name].expect)
    assert site.snapshot() == before, "the stored certificate changed"
    assert_no_challenge_left(site)
    assert site.ca.violations == []


SUBPROCESS_CASES = ["directory-malformed-json", "newOrder-rateLimited", "leaf-extra-name",
                    "directory-redirect-other-host"]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_cli_process_exits_1_with_one_line(site, name):
    """As cron runs it: a separate process, `run -q`: exit 1, one line on stderr, no traceback."""
    site.ca.scenario = CASES[name].scenario(site.other.base_url)
    r = run_cli("-q", "-c", site.ini, "run", timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert_one_error_line([ln for ln in r.stderr.splitlines() if ln.strip()], CASES[name].expect)
    assert_nothing_saved(site)
    assert_no_challenge_left(site)
    assert site.other.log == []


def test_issue_verb_reports_the_failure_in_one_line(site):
    site.ca.scenario = CASES["leaf-other-public-key"].scenario(site.other.base_url)
    r = run_cli("-q", "-c", site.ini, "issue", timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert_one_error_line(lines, (r"^site: failed: .*another public key",))
    assert_nothing_saved(site)
    assert_no_challenge_left(site)


HOOK = r'''
import os, sys
with open(os.environ["HOOK_LOG"], "a") as fh:
    fh.write("%s %s %s\n" % (sys.argv[-1], os.environ["ACME_RECORD_NAME"], os.environ["ACME_TXT_VALUE"]))
'''


def test_dns01_invalid_authorization_names_the_domain_and_cleans_up(site, tmp_path):
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK)
    hook_log = tmp_path / "hook.log"
    site.configure(body="""
        [cert:site]
        Domains = hostile.example.test, *.hostile.example.test
        Challenge = dns-01
        DNSProvider = hook
        DNSHook = %s %s
        DNSHookEnv = HOOK_LOG
        """ % (sys.executable, hook))
    site.ca.scenario = Scenario(failing_names={"*.hostile.example.test": {
        "type": ACME_ERROR + "unauthorized", "status": 403,
        "detail": 'Incorrect TXT record "x3Fq" found at _acme-challenge.hostile.example.test'}})
    r = run_cli("-q", "-c", site.ini, "run", env={"HOOK_LOG": str(hook_log)}, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert_one_error_line([ln for ln in r.stderr.splitlines() if ln.strip()],
                          (r"hostile\.example\.test: unauthorized: Incorrect TXT record",))
    calls = hook_log.read_text().split("\n")
    presented = sorted(c.split(" ", 1)[1] for c in calls if c.startswith("present "))
    cleaned = sorted(c.split(" ", 1)[1] for c in calls if c.startswith("cleanup "))
    assert len(presented) == 2 and cleaned == presented, calls
    assert_nothing_saved(site)


@pytest.mark.parametrize("endpoint", ["directory", "newOrder"])
def test_https_redirect_to_plain_http_is_refused(site, capsys, tmp_path, endpoint):
    """The CA served over HTTPS (trusted through CABundle) redirects to the same server over plain http."""
    path = {"directory": "/dir", "newOrder": "/new-order"}[endpoint]
    with FakeCA(tmp_path / "tls", tls=make_tls_ca(str(tmp_path))) as https_ca:
        https_ca.scenario = Scenario(replies={endpoint: redirect(site.ca.base_url + path)})
        site.configure(https_ca)
        out = site.run(capsys)
        assert https_ca.count(endpoint) == 1          # TLS worked: the request got there, once
        assert https_ca.violations == []
    assert out.code == 1, out.out + out.err
    assert_one_error_line(out.err_lines, (r"redirect to http://127\.0\.0\.1:\d+%s" % path, r"refusing"))
    assert site.ca.log == [], "the client followed the redirect to plain http"
    assert_nothing_saved(site)


@pytest.mark.parametrize("name", ["control", "leaf-other-public-key", "order-invalid-after-finalize"])
def test_failed_issuance_deploys_nothing(site, capsys, name):
    """With a CDN target on the Alibaba Cloud emulator, a failed first issuance sends the cloud no call.

    The control (a good CA) shows the check can fail: there the certificate reaches the emulator.
    """
    with Emulator(EmulatorConfig(accounts={CLOUD_AK: CLOUD_SECRET})) as emu:
        emu.add_cdn_domain("www.hostile.example.test")
        site.configure(body=CERT_HTTP01 + """\
CDN = www.hostile.example.test

[aliyun]
Region = cn-hangzhou
Endpoint = %s
AccessKeyId = %s
AccessKeySecret = %s
""" % (emu.endpoint, CLOUD_AK, CLOUD_SECRET))
        if name != "control":
            site.ca.scenario = CASES[name].scenario(site.other.base_url)
        out = site.run(capsys)
        calls = emu.calls
        served = served_serials(emu.endpoint, CLOUD_AK, CLOUD_SECRET, cdn=["www.hostile.example.test"])
    if name == "control":
        assert out.code == 0, out.out + out.err
        assert any(c.write for c in calls)
        assert served == {"cdn www.hostile.example.test": stored_serial(os.path.join(site.folder, "state"), NAME)}
        return
    assert out.code == 1, out.out + out.err
    assert_one_error_line(out.err_lines, CASES[name].expect)
    assert calls == [], [c.action for c in calls]
    assert served == {"cdn www.hostile.example.test": None}
    assert_nothing_saved(site)


def test_a_huge_retry_after_is_capped_at_a_day_and_recorded(site, capsys):
    """Issue 12, item 4: Retry-After 99999999999999 backs off one day, not forever, not OverflowError."""
    import datetime
    site.ca.scenario = CASES["newOrder-rateLimited-huge-retry-after"].scenario(site.other.base_url)
    out = site.run(capsys)
    assert out.code == 1 and "internal error" not in out.err, out.err
    attempts = Store(os.path.join(site.folder, "state")).read_attempts(NAME)
    wait = datetime.datetime.fromisoformat(attempts["next_attempt"]) - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=23) < wait <= datetime.timedelta(days=1), attempts
