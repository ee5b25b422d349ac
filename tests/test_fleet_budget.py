"""Issue 15 part 6: a whole fleet in one Function Compute invocation, within its time.

The handler gives the runner the function's remaining time (less a reserve) as its
budget; certificates start only while the time left exceeds the longest one seen; the
rest are `pending`, listed in the summary and in <state>/pending.json, and go first in
the next invocation. The scriptable CA (tests/fakeca.py) checks http-01 in the webroot.
"""

import json
import types

import pytest

from acme_aliyun import fc, parallel
from acme_aliyun.store import Store
from tests.conftest import write_ini
from tests.fakeca import FakeCA

N = 12


pytestmark = pytest.mark.usefixtures("restore_logging")   # tests/conftest.py


def _context(remaining_ms):
    return types.SimpleNamespace(request_id="req-1", credentials=None, region="cn-hangzhou",
                                 get_remaining_time_in_milliseconds=lambda: remaining_ms)


@pytest.fixture
def function(tmp_path, monkeypatch):
    webroot = tmp_path / "www"
    webroot.mkdir()
    with FakeCA(tmp_path / "ca", webroot=str(webroot)) as ca:
        write_ini(tmp_path, ca, "".join("\n[cert:c%02d]\nDomains = c%02d.fc.example.test\nWebroot = %s\n"
                                        % (i, i, webroot) for i in range(N)))
        monkeypatch.setenv("ACME_ALIYUN_CONFIG", str(tmp_path / "acme.ini"))
        monkeypatch.setenv("ACME_ALIYUN_STATE_DIR", str(tmp_path / "nas"))
        yield ca, Store(str(tmp_path / "nas"))


def test_one_invocation_handles_the_whole_fleet(function):
    ca, store = function
    out = json.loads(fc.handler(b'{"action": "run"}', _context(600000)))
    assert out["ok"] is True and out["pending"] == []
    assert [c["action"] for c in out["certificates"]] == ["issued"] * N
    assert all(store.load("c%02d" % i) is not None for i in range(N)) and len(ca.issued) == N


def test_what_does_not_fit_is_pending_and_goes_first_next_time(function):
    ca, store = function
    # 16 s left: 1 s after the reserve, less than a certificate is assumed to need
    out = json.loads(fc.handler(b'{"action": "run"}', _context(16000)))
    assert out["ok"] is True
    assert out["pending"] == ["c%02d" % i for i in range(N)] and len(ca.issued) == 0
    assert parallel.pending_names(str(store.state_dir)) == out["pending"]
    out = json.loads(fc.handler(b'{"action": "run"}', _context(600000)))
    assert out["pending"] == [] and len(ca.issued) == N
    assert parallel.pending_names(str(store.state_dir)) == []


def test_budget_starts_certificates_while_the_longest_one_still_fits():
    """Parallel = 1 and a clock each reading of which moves 5 s: a certificate 'takes' 5 s;
    with 45 s the first three start (the first needs the 20 s guess x 1.25), the rest wait."""
    ticks = iter(range(0, 1000, 5))
    budget = parallel.Budget(45, clock=lambda: next(ticks))
    certs = [types.SimpleNamespace(name="c%d" % i) for i in range(6)]
    out = parallel.run_all(certs, lambda c: (c.name, "done"), lambda c, why: (c.name, why), 1, budget)
    assert [o[1] for o in out[:3]] == ["done"] * 3
    assert all(o[1].startswith("left for the next run: the time budget (45 s)") for o in out[3:])


def test_pending_and_soonest_expiry_start_first():
    import datetime
    day = datetime.timedelta(days=1)
    now = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
    certs = [types.SimpleNamespace(name=n) for n in ("a", "b", "c", "d")]
    expiry = {"a": now + 30 * day, "b": None, "c": now + 5 * day, "d": now + 60 * day}
    assert parallel.start_order(certs, ["d"], lambda c: expiry[c.name]) == [3, 1, 2, 0]


def test_run_budget_is_capped_by_the_function_time():
    assert fc.run_budget(_context(600000)) == 540.0            # 10 % kept back
    assert fc.run_budget(_context(100000), configured=60) == 60
    assert fc.run_budget(_context(20000)) == 5.0                # at least 15 s kept back
    assert fc.run_budget(types.SimpleNamespace(), configured=None) is None
