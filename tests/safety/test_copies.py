"""Item 1 of issue 12: KeyFile and ChainFile never drift from the stored pair."""

import json
import os

from tests import summary
from tests.conftest import write_ini
from tests.safety.copies import assert_copies_match, copies_mismatch


def _ini(tmp_path, pebble):
    (tmp_path / "out" / "chain").mkdir(parents=True)     # KeyFile/ChainFile folders must exist (checked at load)
    return write_ini(tmp_path, pebble, """
        [cert:solo]
        Domains = copies.example.test
        Challenge = http-01
        HTTPListen = 127.0.0.1:%d
        KeyFile = out/solo.key
        ChainFile = out/chain/solo.chain.pem
        """ % pebble.http_port)


def test_a_failed_copy_is_reported_and_repaired_by_the_next_run(tmp_path, pebble, cli):
    ini = _ini(tmp_path, pebble)
    first = cli("-c", ini, "run")
    assert first.returncode == 0, first.stdout + first.stderr
    assert_copies_match(ini, str(tmp_path / "state"), "after the first run")
    chain = tmp_path / "out" / "chain" / "solo.chain.pem"
    chain.unlink()
    chain.mkdir()                       # ChainFile cannot be written (root ignores folder modes)
    forced = cli("-c", ini, "run", "--force", "--json")
    assert forced.returncode == 1, forced.stdout + forced.stderr
    doc = json.loads(forced.stdout)["certificates"][0]
    assert doc["action"] == "renewed" and doc["copies"] == "failed", doc
    assert "solo.chain.pem" in doc["copy_error"]["message"] and not doc["error"], doc
    again = cli("-c", ini, "run")
    assert again.returncode == 1 and "copy" in again.stdout, again.stdout + again.stderr
    chain.rmdir()
    fixed = cli("-c", ini, "run")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert_copies_match(ini, str(tmp_path / "state"), "after the repair")


def test_stale_copies_left_by_a_crash_are_rewritten(tmp_path, pebble, cli):
    """A kill between save() and the copies leaves both stale: the next run, not due, rewrites them."""
    ini = _ini(tmp_path, pebble)
    assert cli("-c", ini, "run").returncode == 0
    key, chain = tmp_path / "out" / "solo.key", tmp_path / "out" / "chain" / "solo.chain.pem"
    old_key, old_chain = key.read_bytes(), chain.read_bytes()
    assert cli("-c", ini, "run", "--force").returncode == 0
    key.write_bytes(old_key)
    chain.write_bytes(old_chain)
    assert copies_mismatch(ini, str(tmp_path / "state"))
    r = cli("-c", ini, "run")
    assert r.returncode == 0 and summary.issues(r.stdout) == {"solo": "not due"}, r.stdout + r.stderr
    assert_copies_match(ini, str(tmp_path / "state"), "after the rerun")
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"


def test_issue_also_repairs_copies(tmp_path, pebble, cli):
    ini = _ini(tmp_path, pebble)
    assert cli("-c", ini, "issue").returncode == 0
    os.unlink(str(tmp_path / "out" / "solo.key"))       # the folders stay: their existence is checked at load
    (tmp_path / "out" / "chain" / "solo.chain.pem").write_text("stale\n")
    r = cli("-c", ini, "issue")
    assert r.returncode == 0, r.stdout + r.stderr
    assert_copies_match(ini, str(tmp_path / "state"), "after issue")


def test_the_webhook_text_names_a_failed_copy():
    from acme_aliyun import notify
    text = notify.render_text({"certificates": [{"name": "solo", "action": "renewed", "copies": "failed",
                                                 "copy_error": "cannot write /srv/solo.pem: Is a directory"}]},
                              failed=True)
    assert "copy failed: cannot write /srv/solo.pem" in text
