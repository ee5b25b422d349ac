"""Issue 15, acceptance 1: 40 certificates over two accounts, ordered side by side.

Two emulators, each one Alibaba Cloud account with its own AccessKey and 20 ms per
call, QPS limits enforced; 20 certificates each, two CDN domains per certificate,
dns-01 in the account's own zone (concurrent orders share that zone). The first
`run` issues and deploys everything within 15 s (33.8 s one at a time before);
the second makes no write and at most 8 API calls in all.
"""

import time

import pytest

from tests import fleet_setup
from tests.certcheck import check_stored
from tests.conftest import run_cli


@pytest.fixture
def fleet(tmp_path, pebble):
    f = fleet_setup.start(str(tmp_path), pebble, 40)
    yield f
    f.stop()


def _served_serials(fleet):
    out = {}
    for domain, profile in fleet.owner.items():
        out[domain] = fleet.emulators[profile].cdn_state(domain).get("serial")
    return out


def test_forty_certificates_two_accounts_first_run_parallel_then_a_cheap_noop(fleet, pebble):
    started = time.perf_counter()
    first = run_cli("-c", fleet.ini, "run", timeout=120)
    took = time.perf_counter() - started
    assert first.returncode == 0, first.stdout + first.stderr
    assert took <= 15.0, "first run took %.1f s" % took

    # every write went to the account that owns its domain, and was accepted there
    for profile, emu in fleet.emulators.items():
        writes = emu.write_calls()
        assert writes and all(c.code is None for c in writes), [c.code for c in writes if c.code]
        zone = fleet_setup.ZONES[profile]
        for c in writes:
            assert all(t == zone or t.endswith("." + zone) for t in c.targets), (profile, c.action, c.targets)
        unknown_key = [c for c in emu.calls if (c.code or "").startswith("InvalidAccessKeyId")]
        assert not unknown_key
        # one Pacer per account, shared by every certificate's orders and deploys: never throttled
        assert emu.throttled_calls() == []
        # concurrent orders in one zone: every TXT record removed, by its own order
        assert [r for r in emu.dns_records(zone) if r["type"] == "TXT"] == []
        adds = [c for c in writes if c.action == "AddDomainRecord"]
        deletes = [c for c in writes if c.action == "DeleteDomainRecord"]
        assert len(adds) == len(deletes) == 2 * 20

    # both names of each certificate serve the certificate stored for it
    from acme_aliyun import config
    from acme_aliyun.store import Store
    store = Store(config.load(fleet.ini).acme.state_dir)
    served = _served_serials(fleet)
    root = pebble.root_pem()
    for name, names in fleet.certs.items():
        stored = store.load(name)
        assert stored is not None
        check_stored(stored.path, root, names)      # verifies to Pebble's root, names, key
        assert {served[d] for d in names} == {int(stored.bundle.serial, 16)}

    fleet.reset()
    second = run_cli("-c", fleet.ini, "run", timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert fleet.writes() == 0
    assert fleet.calls() <= 8, [c.action for e in fleet.emulators.values() for c in e.calls]


def test_concurrent_http01_orders_share_one_standalone_listener(tmp_path, pebble):
    """Six certificates on one HTTPListen address ordered side by side: one listener answers
    every order's tokens (a second bind would fail each order but the first)."""
    from tests.conftest import write_ini
    body = "".join("""
        [cert:h%d]
        Domains = h%d.standalone.example.test
        Challenge = http-01
        HTTPListen = 127.0.0.1:%d
        """ % (i, i, pebble.http_port) for i in range(6))
    ini = write_ini(tmp_path, pebble, body, extra_acme="Parallel = 6\n")
    r = run_cli("-c", ini, "run", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for i in range(6):
        check_stored(tmp_path / "state" / "certs" / ("h%d" % i), pebble.root_pem(),
                     ["h%d.standalone.example.test" % i])
