"""Item 4 of issue 12: one failing certificate never aborts the run, and the webhook always hears."""

import json
import os

import pytest

from acme_aliyun.store import Store
from tests import demo
from tests.conftest import write_ini
from tests.webhook import Receiver


@pytest.fixture
def emu(pebble):
    e = demo.start_emulator(pebble)
    yield e
    e.stop()


def _ini(tmp_path, pebble, emu, hook_url, targets=True):
    body = ""
    for name, domain in (("one", "shop.example.test"), ("two", "www.demo.test")):
        body += "[cert:%s]\nDomains = %s\nChallenge = http-01\nHTTPListen = 127.0.0.1:%d\n%s\n" % (
            name, domain, pebble.http_port, "CDN = %s\n" % domain if targets else "")
    body += "[aliyun]\nRegion = cn-hangzhou\nEndpoint = %s\n\n[notify]\nWebhook = %s\n" % (emu.endpoint, hook_url)
    return write_ini(tmp_path, pebble, body)


def test_no_credentials_fails_each_certificate_and_notifies(tmp_path, pebble, emu, cli):
    """What a metadata-server blip on ECS looks like: every certificate considered, exit 1, one webhook."""
    with Receiver() as hook:
        ini = _ini(tmp_path, pebble, emu, hook.url)
        r = cli("-c", ini, "run", "--json")           # no AccessKey in the environment
        assert r.returncode == 1, r.stdout + r.stderr
        doc = json.loads(r.stdout)
        assert [c["name"] for c in doc["certificates"]] == ["one", "two"]
        for c in doc["certificates"]:
            assert c["action"] == "issued" and "credentials" in c["error"]["message"], c
        assert len(hook.bodies) == 1
        note = hook.json()[0]
        assert note["ok"] is False and len(note["certificates"]) == 2


def test_a_corrupt_meta_json_does_not_stop_the_run(tmp_path, pebble, emu, cli):
    with Receiver() as hook:
        ini = _ini(tmp_path, pebble, emu, hook.url, targets=False)
        assert cli("-c", ini, "run").returncode == 0
        store = Store(str(tmp_path / "state"))
        serial = store.load("one").bundle.serial
        with open(os.path.join(store.cert_dir("one"), "current", "meta.json"), "w") as fh:
            fh.write("{not json")
        r = cli("-c", ini, "run", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        assert {c["name"]: c["action"] for c in json.loads(r.stdout)["certificates"]} == {
            "one": "unchanged", "two": "unchanged"}
        assert store.load("one").bundle.serial == serial


def test_a_corrupt_current_version_falls_back_to_the_previous_one_or_reissues(tmp_path, pebble, emu, cli):
    with Receiver() as hook:
        ini = _ini(tmp_path, pebble, emu, hook.url, targets=False)
        assert cli("-c", ini, "run").returncode == 0
        store = Store(str(tmp_path / "state"))
        first = store.load("one").bundle.serial
        assert cli("-c", ini, "run", "--force", "one").returncode == 0
        with open(os.path.join(store.cert_dir("one"), "current", "fullchain.pem"), "w") as fh:
            fh.write("garbage")
        assert store.load("one").bundle.serial == first          # the previous version
        r = cli("-c", ini, "run", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        actions = {c["name"]: c["action"] for c in json.loads(r.stdout)["certificates"]}
        assert actions == {"one": "unchanged", "two": "unchanged"}, r.stdout
        # no usable version at all: the certificate is issued again, the other one untouched
        for version in os.listdir(os.path.join(store.cert_dir("two"), "versions")):
            with open(os.path.join(store.cert_dir("two"), "versions", version, "cert.pem"), "w") as fh:
                fh.write("garbage")
        r = cli("-c", ini, "run", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        actions = {c["name"]: c["action"] for c in json.loads(r.stdout)["certificates"]}
        assert actions == {"one": "unchanged", "two": "issued"}, r.stdout
        assert store.load("two") is not None


def test_an_unknown_certificate_name_still_notifies(tmp_path, pebble, emu, cli):
    with Receiver() as hook:
        ini = _ini(tmp_path, pebble, emu, hook.url, targets=False)
        r = cli("-c", ini, "run", "nosuch")
        assert r.returncode == 2, r.stdout + r.stderr
        assert len(hook.bodies) == 1 and "nosuch" in hook.json()[0]["error"]["message"]
