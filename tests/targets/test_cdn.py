"""CDN and DCDN: wildcard accelerated domains, CAS references, direct uploads without name clashes."""

import pytest

from acme_aliyun import deployer, targets
from acme_aliyun.pki import CertBundle
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import make_client

NAMES = ["example.test", "*.example.test"]


@pytest.fixture
def emu(emulator_factory):  # noqa: F811
    e = emulator_factory()
    for d in ("www.example.test", ".example.test"):
        e.add_cdn_domain(d)
        e.add_dcdn_domain(d.replace("www", "dyn"))
    return e


def bundle(names=NAMES):
    return CertBundle.from_pems(*make_cert(names, 90))


def run(client, b, specs):
    return {(r.kind, r.target): r for r in deployer.apply(deployer.plan(b, "site", specs, client), client)}


def test_wildcard_domain_is_written_as_dot_form_and_covered_by_the_wildcard(emu):
    client = make_client(emu)
    b = bundle()
    specs = targets.specs(cdn="www.example.test, *.example.test", dcdn="dyn.example.test, .example.test")
    results = run(client, b, specs)
    assert {k: r.status for k, r in results.items()} == {
        ("cdn", "www.example.test"): "deployed", ("cdn", ".example.test"): "deployed",
        ("dcdn", "dyn.example.test"): "deployed", ("dcdn", ".example.test"): "deployed"}
    assert emu.cdn_state(".example.test")["serial"] == b.cert.serial_number
    assert emu.dcdn_state(".example.test")["cert_type"] == "cas"
    emu.reset_calls()
    assert {r.status for r in run(client, b, specs).values()} == {"unchanged"} and emu.write_calls() == []


def test_a_certificate_without_the_wildcard_does_not_cover_the_wildcard_domain(emu):
    client = make_client(emu)
    plan = deployer.plan(bundle(["example.test", "www.example.test"]), "site",
                         targets.specs(cdn=".example.test"), client)
    [r] = plan.results
    assert r.status == "refused" and "does not cover *.example.test" in r.reason


def test_direct_mode_uploads_once_inline_and_references_that_upload(emu):
    client = make_client(emu, upload="direct")
    b = bundle()
    specs = targets.specs(cdn="www.example.test, .example.test", dcdn="dyn.example.test, .example.test")
    results = run(client, b, specs)
    assert {r.status for r in results.values()} == {"deployed"}
    inline = [c for c in emu.write_calls() if "SSLPri" in c.body_keys]
    assert len(inline) == 1 and inline[0].code is None                # one upload, no clash
    assert not [c for c in emu.calls if c.product == "cas"]            # no CAS permission needed
    [stored] = emu.cas_certificates()
    for d in ("www.example.test", ".example.test"):
        assert emu.cdn_state(d)["cert_id"] == str(stored["cert_id"])
        assert emu.dcdn_state(d.replace("www", "dyn"))["cert_id"] == str(stored["cert_id"])
    emu.reset_calls()
    assert {r.status for r in run(client, b, specs).values()} == {"unchanged"} and emu.write_calls() == []
