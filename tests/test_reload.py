"""ReloadCommand (issue 14, point 17): runs after the KeyFile/ChainFile copies change, with no shell,
bounded in time; a failure makes the run fail and is retried on the next run until it succeeds."""

import json
import sys

import pytest

from acme_aliyun import config, reload
from acme_aliyun.errors import ConfigError
from tests.conftest import write_ini

RECORDER = """\
import json, os, sys
with open(%(log)r, "a") as fh:
    fh.write(json.dumps({"argv": sys.argv[1:], "cert": os.environ["ACME_ALIYUN_CERT"],
                         "chain": os.environ["ACME_ALIYUN_CHAIN_FILE"],
                         "chain_holds": open(os.environ["ACME_ALIYUN_CHAIN_FILE"]).read()}) + "\\n")
if os.path.exists(%(fail)r):
    sys.stderr.write("boom: nginx -t failed\\n")
    sys.exit(3)
"""


def _calls(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_reload_runs_after_copies_change_and_retries_a_failure(tmp_path, pebble, cli):
    (tmp_path / "out").mkdir()
    log, fail = tmp_path / "reload.log", tmp_path / "fail"
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER % {"log": str(log), "fail": str(fail)})
    ini = write_ini(tmp_path, pebble, """
        [cert:web]
        Domains = web.example.test
        HTTPListen = 127.0.0.1:%d
        KeyFile = out/web.key
        ChainFile = out/web.pem
        ReloadCommand = %s %s "two words" ;echo $HOME
        """ % (pebble.http_port, sys.executable, script))
    r = cli("-c", ini, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    calls = _calls(log)
    assert len(calls) == 1
    # no shell: the quoted words stay one argument, ';' and '$HOME' arrive as text
    assert calls[0]["argv"] == ["two words", ";echo", "$HOME"] and calls[0]["cert"] == "web"
    assert calls[0]["chain_holds"] == (tmp_path / "out" / "web.pem").read_text()   # after the copy

    assert cli("-c", ini, "run").returncode == 0
    assert len(_calls(log)) == 1                      # copies unchanged: no reload

    fail.write_text("")
    r = cli("-c", ini, "run", "--force")               # new certificate, copies rewritten, reload fails
    assert r.returncode == 1
    assert "ReloadCommand %s exited 3: boom: nginx -t failed" % sys.executable in r.stdout, r.stdout
    assert len(_calls(log)) == 2

    r = cli("-c", ini, "run")                          # still failing: retried although copies match
    assert r.returncode == 1 and len(_calls(log)) == 3
    fail.unlink()
    r = cli("-c", ini, "run")                          # retried, succeeds, pending cleared
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(_calls(log)) == 4
    assert cli("-c", ini, "run").returncode == 0 and len(_calls(log)) == 4


class _Cert:
    name, key_file, chain_file = "x", None, "/nonexistent/x.pem"


def test_reload_is_bounded_in_time():
    error = reload.run_command([sys.executable, "-c", "import time; time.sleep(30)"], _Cert(), timeout=0.5)
    assert error == "ReloadCommand %s did not finish within 0.5s (killed)" % sys.executable
    assert reload.run_command(["/nonexistent/reload-me"], _Cert()) == \
        "ReloadCommand /nonexistent/reload-me: No such file or directory"


def test_global_reload_command_and_bad_quoting(tmp_path, pebble):
    ini = write_ini(tmp_path, pebble, """
        [cert:a]
        Domains = a.example.test
        HTTPListen = 127.0.0.1:1
        [cert:b]
        Domains = b.example.test
        HTTPListen = 127.0.0.1:1
        ReloadCommand = /usr/sbin/service apache2 reload
        """, extra_acme="ReloadCommand = systemctl reload nginx\n")
    cfg = config.load(ini)
    assert cfg.certs["a"].reload_command == ["systemctl", "reload", "nginx"]
    assert cfg.certs["b"].reload_command == ["/usr/sbin/service", "apache2", "reload"]
    with open(ini) as fh:
        text = fh.read()
    with open(ini, "w") as fh:
        fh.write(text.replace("systemctl reload nginx", "systemctl 'reload nginx"))
    with pytest.raises(ConfigError) as e:
        config.load(ini)
    assert "[acme] ReloadCommand: cannot be split into words" in str(e.value)
