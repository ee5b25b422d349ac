"""Issue 15, acceptance 2 and the CA rate-limit ledger (acme_aliyun/ratelimits.py).

200 certificates on one registered domain against the scriptable CA (tests/fakeca.py,
http-01 really checked in the webroot) with the per-domain limit lowered to 60 a
week: the first run orders 60 and defers 140 with a one-line reason; as the injected
clock moves past the window, later runs order the next 60, 60 and 20. No sleeping.
"""

import datetime
import os

import pytest

from acme_aliyun import cli, ratelimits
from acme_aliyun.protocol.errors import AuthorizationFailed
from acme_aliyun.regdomain import registered_domain
from acme_aliyun.store import Store
from acme_aliyun.report import when
from tests import summary
from tests.conftest import run_cli, write_ini
from tests.fakeca import FakeCA

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 12, 1, 3, 0, tzinfo=UTC)      # a Tuesday


pytestmark = pytest.mark.usefixtures("restore_logging")   # tests/conftest.py


@pytest.fixture
def clock(monkeypatch):
    now = [T0]
    monkeypatch.setattr(ratelimits, "clock", lambda: now[0])
    return now


def _fleet_ini(folder, ca, count, limits):
    webroot = os.path.join(folder, "www")
    os.makedirs(webroot, exist_ok=True)
    body = "[limits]\n%s\n" % limits + "".join(
        "\n[cert:c%03d]\nDomains = c%03d.shop.example.com\nChallenge = http-01\nWebroot = www\n" % (i, i)
        for i in range(count))
    return write_ini(folder, ca, body, extra_acme="Parallel = 16")          # 16: a fast suite


def test_two_hundred_certificates_spread_over_the_weeks_by_the_per_domain_limit(tmp_path, clock, capsys):
    www = str(tmp_path / "www")
    with FakeCA(tmp_path / "ca", webroot=www) as ca:
        ini = _fleet_ini(str(tmp_path), ca, 200, "CertificatesPerDomain = 60/7d")
        store = Store(str(tmp_path / "state"))
        issued_per_run = []
        for step, days in enumerate((0, 3, 7, 14, 21)):
            clock[0] = T0 + datetime.timedelta(days=days, minutes=step)
            before = ca.count("newOrder")
            code = cli.main(["-c", ini, "run"])
            out = capsys.readouterr().out
            issued_per_run.append(ca.count("newOrder") - before)
            have = sum(1 for i in range(200) if store.load("c%03d" % i) is not None)
            # one reason, said once under the table for every certificate it holds back
            deferred = [line for line in out.splitlines() if line.startswith("deferred: ")]
            assert code == (0 if have == 200 else 1), out
            if have == 200:
                assert deferred == [], out
                continue
            assert len(deferred) == 1, out
            held = ["c%03d" % i for i in range(200) if store.load("c%03d" % i) is None]
            assert deferred[0] == ("deferred: 60 certificates per registered domain per week reached for "
                                   "example.com; next slot %s (%d: %s)" % (_slot(days), len(held), ", ".join(held)))
            issues = summary.issues(out)            # the ISSUE column names the ledger's next slot, with its date
            assert {issues[name] for name in held} == {"deferred until %s" % when(_slot_time(days))}, out
        assert issued_per_run == [60, 0, 60, 60, 20]
        assert len(ca.issued) == 200 and not ca.violations


def _slot_time(days):
    """The next free slot: a week after the orders that filled the window
    (run at day 0 minute 0, day 7 minute 2, day 14 minute 3)."""
    filled = {0: (0, 0), 3: (0, 0), 7: (7, 2), 14: (14, 3)}[days]
    return T0 + datetime.timedelta(days=filled[0] + 7, minutes=filled[1])


def _slot(days):
    """The next free slot as the reason names it."""
    return _slot_time(days).strftime("%a %H:%M UTC")


def test_ledger_counts_orders_duplicates_and_failed_validations(tmp_path, clock):
    limits = ratelimits.Limits(new_orders=ratelimits.parse_limit("3/3h"),
                               duplicates=ratelimits.parse_limit("2/7d"),
                               failed_validations=ratelimits.parse_limit("2/1h"))
    ledger = ratelimits.Ledger(str(tmp_path), limits)
    assert isinstance(ledger.reserve("acct", ["a.example.net"]), ratelimits.Reservation)
    assert isinstance(ledger.reserve("acct", ["a.example.net"]), ratelimits.Reservation)
    dup = ledger.reserve("acct", ["A.example.net"])
    assert isinstance(dup, ratelimits.Deferral)
    assert dup.reason == ("deferred: 2 duplicate certificates per week reached for a.example.net; "
                          "next slot Tue 03:00 UTC")
    slot = ledger.reserve("acct", ["b.example.net"])
    slot.failed(["b.example.net"])             # a failed order: its certificate slot goes back
    assert ledger.counts() == {"order": 3, "dup": 2, "cert": 2, "authz": 1}
    full = ledger.reserve("acct", ["c.example.net"])
    assert full.reason.startswith("deferred: 3 new orders per account per 3 hours reached")
    clock[0] += datetime.timedelta(hours=3, seconds=1)
    ledger.reserve("acct", ["b.example.net"]).failed(["b.example.net"])
    ledger.reserve("acct", ["b.example.net"]).failed(["b.example.net"])
    assert ledger.reserve("acct", ["b.example.net"]).reason.startswith(
        "deferred: 2 failed validations per hour reached for b.example.net")
    # the ledger survives a restart (a new process reads the same state folder)
    again = ratelimits.Ledger(str(tmp_path), limits)
    assert again.counts() == ledger.counts()
    # an ARI renewal inside its window is exempt (and still counted)
    assert isinstance(again.reserve("acct", ["b.example.net"], exempt=True), ratelimits.Reservation)


def test_failed_validation_hands_back_the_certificate_slot_through_the_issuer(tmp_path, clock):
    ledger = ratelimits.Ledger(str(tmp_path), ratelimits.Limits(per_domain=ratelimits.parse_limit("1/7d")))
    slot = ledger.reserve("acct", ["x.example.org"])
    error = AuthorizationFailed([("x.example.org", "incorrect TXT")])
    slot.failed([n for n, _ in error.failures])
    assert isinstance(ledger.reserve("acct", ["y.example.org"]), ratelimits.Reservation)


@pytest.mark.parametrize("name,expected", [
    ("www.shop.example.co.uk", "example.co.uk"), ("a.b.example.com", "example.com"),
    ("*.x.github.io", "x.github.io"), ("foo.com.cn", "foo.com.cn"), ("s1.one.test", "one.test")])
def test_registered_domain_from_the_public_suffix_list_offline(name, expected):
    if not os.path.exists(ratelimits_psl()) and expected.count(".") > 1:
        pytest.skip("no Public Suffix List file on this machine")
    assert registered_domain(name) == expected


def ratelimits_psl():
    from acme_aliyun.regdomain import DEFAULT_FILES
    return DEFAULT_FILES[0]


def test_registered_domain_rules_from_a_given_list(tmp_path):
    psl = tmp_path / "psl.dat"
    psl.write_text("// a tiny list\nuk\nco.uk\n*.ck\n!www.ck\n")
    assert registered_domain("a.b.shop.co.uk", str(psl)) == "shop.co.uk"
    assert registered_domain("a.b.c.ck", str(psl)) == "b.c.ck"
    assert registered_domain("x.www.ck", str(psl)) == "www.ck"
    assert registered_domain("a.b.example", str(psl)) == "b.example"


@pytest.mark.parametrize("value", ["50", "50/7w", "x/1d", "5/0h"])
def test_bad_limit_is_one_line_naming_the_key(tmp_path, value):
    ini = tmp_path / "acme.ini"
    ini.write_text("[acme]\nACMEDirectory = https://ca.test/dir\nAccountKeyFile = k\n\n"
                   "[limits]\nCertificatesPerDomain = %s\n\n[cert:a]\nDomains = a.test\nWebroot = w\n" % value)
    r = run_cli("-c", str(ini), "status")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "[limits]" in lines[0] and "CertificatesPerDomain" in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_only_an_ari_renewal_inside_its_window_is_exempt(clock):
    from types import SimpleNamespace
    day = datetime.timedelta(days=1)
    window = {"start": (T0 - day).isoformat(), "end": (T0 + day).isoformat()}
    stored = SimpleNamespace(meta={"ari": window})
    ari, lifetime = SimpleNamespace(source="ari"), SimpleNamespace(source="lifetime")
    assert ratelimits.ari_exempt(stored, ari)
    assert not ratelimits.ari_exempt(stored, lifetime)
    assert not ratelimits.ari_exempt(None, ari)
    clock[0] = T0 + datetime.timedelta(days=2)             # past the window's end: counted like any order
    assert not ratelimits.ari_exempt(stored, ari)
