"""Staging rehearsal (issue 14, point 18): `issue --staging` and `run --staging` order from the staging
directory (ACME_ALIYUN_STAGING_DIRECTORY points it at Pebble: no test reaches Let's Encrypt) into
<StateDir>-staging, with its own account key, and never copy, reload or deploy."""

import json
import os
import subprocess
import sys

from tests import demo
from tests.certcheck import check_stored

INI = """\
[acme]
ACMEDirectory = https://127.0.0.1:9/production-is-not-asked
AccountKeyFile = account.key
CABundle = {ca}
StateDir = state
ReloadCommand = /bin/false

[cert:shop]
Domains = shop.example.test
HTTPListen = 127.0.0.1:{http_port}
KeyFile = out/shop.key
ChainFile = out/shop.pem
CDN = shop.example.test

[aliyun]
Endpoint = {endpoint}
"""


def _run(ini, env, *args):
    return subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini] + list(args), env=env,
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def test_issue_and_run_staging_rehearse_apart_and_deploy_nothing(tmp_path, pebble, emu):  # noqa: F811
    (tmp_path / "out").mkdir()
    ini = tmp_path / "acme.ini"
    ini.write_text(INI.format(ca=pebble.ca_bundle, http_port=pebble.http_port, endpoint=emu.endpoint))
    env = dict(demo.tool_env(), ACME_ALIYUN_STAGING_DIRECTORY=pebble.directory_url)

    r = _run(str(ini), env, "issue", "--staging")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr.startswith("staging rehearsal: %s, state in %s-staging" % (pebble.directory_url, tmp_path / "state"))
    folder = tmp_path / "state-staging" / "certs" / "shop"
    bundle = check_stored(folder, pebble.root_pem(), ["shop.example.test"])
    assert json.loads((folder / "meta.json").read_text())["directory"] == pebble.directory_url
    assert (tmp_path / "state-staging" / "account-staging.key").exists()
    # the real state, the real account key and the copies are untouched
    assert not (tmp_path / "state").exists() and not (tmp_path / "account.key").exists()
    assert os.listdir(tmp_path / "out") == []

    r = _run(str(ini), env, "run", "--staging", "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    renewed = check_stored(folder, pebble.root_pem(), ["shop.example.test"])
    assert renewed.serial != bundle.serial
    assert emu.write_calls() == []                                     # never deployed
    assert os.listdir(tmp_path / "out") == [] and not (tmp_path / "state").exists()
    table = [line.split() for line in r.stdout.splitlines() if line.startswith("shop ")]
    assert table and table[0][2:6] == ["0", "0", "0", "0"], r.stdout   # no target counted either way


def test_a_staging_certificate_is_refused_by_the_provenance_gate(monkeypatch):
    from acme_aliyun import provenance

    class Stored:
        meta = {"directory": "https://127.0.0.1:14000/dir"}
    monkeypatch.setenv("ACME_ALIYUN_STAGING_DIRECTORY", "https://127.0.0.1:14000/dir")
    assert provenance.staging(Stored(), None) == "it was issued by the staging directory https://127.0.0.1:14000/dir"
    monkeypatch.delenv("ACME_ALIYUN_STAGING_DIRECTORY")
    assert provenance.staging(Stored(), None) is None
