"""The command line as an operator meets it (issue 14, points 5-8, 10, 21): options after the verb,
the /etc fallback, read-only commands that write nothing, the article's ini before its CSR exists,
permission and lock messages, aliases and bash completion."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from acme_aliyun import cli
from tests import demo

MINIMAL = """\
[acme]
ACMEDirectory = https://127.0.0.1:9/dir
AccountKeyFile = account.key
StateDir = state

[cert:www]
Domains = www.example.test
HTTPListen = 127.0.0.1:8080
"""


def _tree(folder):
    out = []
    for base, dirs, files in os.walk(folder):
        out += [os.path.relpath(os.path.join(base, n), folder) for n in dirs + files]
    return sorted(out)


# --- 5: options after the verb ------------------------------------------------------------

def test_options_work_after_the_verb(tmp_path, capsys):
    ini = tmp_path / "x.ini"
    ini.write_text(MINIMAL)
    args = cli.build_parser().parse_args(["status", "-c", str(ini), "-q", "-v"])
    assert (args.config, args.quiet, args.verbose) == (str(ini), True, True)
    args = cli.build_parser().parse_args(["account", "show", "--config", "a.ini"])
    assert args.config == "a.ini" and args.quiet is False
    assert cli.build_parser().parse_args(["-c", "before.ini", "cloud", "check"]).config == "before.ini"
    assert cli.main(["status", "-c", str(ini)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CERTIFICATE") and "www.example.test" in out


# --- 6: ./acme.ini, then /etc/acme-aliyun/acme.ini -----------------------------------------

def test_config_falls_back_to_the_system_path(tmp_path, monkeypatch, capsys):
    system = tmp_path / "etc" / "acme.ini"
    system.parent.mkdir()
    system.write_text(MINIMAL)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(cli, "SYSTEM_CONFIG", str(system))
    assert cli.main(["status"]) == 0
    assert "www.example.test" in capsys.readouterr().out
    (work / "acme.ini").write_text(MINIMAL.replace("www.example.test", "local.example.test"))
    assert cli.main(["status"]) == 0
    assert "local.example.test" in capsys.readouterr().out      # ./acme.ini wins


def test_no_config_anywhere_names_both_paths(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "SYSTEM_CONFIG", str(tmp_path / "etc" / "acme.ini"))
    assert cli.main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(tmp_path / "acme.ini") in err and str(tmp_path / "etc" / "acme.ini") in err
    assert os.listdir(tmp_path) == []


# --- 7 and 8: read-only commands write nothing; the CSR waits until needed ------------------

def _tool(ini, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", str(ini)] + list(args), env=demo.tool_env(),
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=cwd)


def test_read_only_commands_create_nothing(tmp_path, pebble, emu):
    ini = demo.write_demo_ini(str(tmp_path), pebble, emu)
    r = _tool(ini, "account", "register")
    assert r.returncode == 0, r.stderr
    with open(ini) as fh:
        text = fh.read()
    with open(ini, "w") as fh:
        fh.write(text.replace("StateDir = state", "StateDir = fresh/state"))
    before = _tree(tmp_path)
    for argv in (["status"], ["status", "--targets"], ["directory"], ["account", "show"],
                 ["deploy", "shop", "--dry-run"], ["cloud", "check"]):
        r = _tool(ini, *argv, cwd=str(tmp_path))
        assert r.returncode in (0, 1) and "Traceback" not in r.stderr, (argv, r.stderr)
        assert r.returncode == 0 or argv[0] == "deploy", (argv, r.stdout, r.stderr)
        assert _tree(tmp_path) == before, "%s wrote %s" % (argv, set(_tree(tmp_path)) - set(before))
    assert not (tmp_path / "fresh").exists()
    assert emu.write_calls() == []


def test_account_register_checks_the_ca_before_writing_a_key(tmp_path, capsys):
    ini = tmp_path / "acme.ini"
    ini.write_text(MINIMAL)                 # 127.0.0.1:9 (discard): nothing answers
    assert cli.main(["-c", str(ini), "account", "register"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["acme.ini"]


def test_article_ini_works_before_the_csr_exists(tmp_path, pebble, cli):
    ini = tmp_path / "acme.ini"
    ini.write_text(
        "[acme-neoprime]\nUserAgent = neoprime.io-acme-client/1.0\nAccountKeyFile = account.key\n"
        "CSRFile = example.com.csr\nChainFile = example.com.chain.pem\nACMEDirectory = %s\n"
        "Contacts = mailto:webmaster@example.com\nLanguage = en\n" % pebble.directory_url)
    env = {"REQUESTS_CA_BUNDLE": pebble.ca_bundle}
    d = cli("-c", ini, "directory", env=env)
    assert d.returncode == 0 and "newOrder" in d.stdout, d.stderr
    r = cli("-c", ini, "account", "register", env=env)
    assert r.returncode == 0 and "Account URL:" in r.stdout, r.stderr
    s = cli("-c", ini, "account", "show", env=env)
    assert s.returncode == 0 and "Status: valid" in s.stdout, s.stderr
    i = cli("-c", ini, "issue", env=env)      # needs the certificate: now the CSR is checked
    assert i.returncode == 2 and i.stderr.count("\n") == 1
    assert "[acme-neoprime] CSRFile: file %s does not exist" % (tmp_path / "example.com.csr") in i.stderr


# --- 10: permission and lock messages -------------------------------------------------------

def test_permission_error_names_owner_mode_and_fix():
    from acme_aliyun.perms import permission_error
    folder = tempfile.mkdtemp()
    try:
        path = os.path.join(folder, "acme.ini")
        with open(path, "w") as fh:
            fh.write(MINIMAL)
        os.chmod(path, 0o600)
        me = __import__("pwd").getpwuid(os.geteuid()).pw_name
        assert permission_error(path) == "%s is owned by %s and mode 0600; run as %s or chown it to %s" % (
            path, me, me, me)
        missing = os.path.join(folder, "state", "certs")
        os.chmod(folder, 0o700)
        assert permission_error(missing, "write") == (
            "cannot write %s: %s is owned by %s and mode 0700; run as %s or chown it to %s" % (
                missing, folder, me, me, me))
    finally:
        shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_unreadable_config_says_owner_and_fix(capsys):
    """As user nobody, a root-owned 0600 acme.ini: one line with owner, mode and the fix."""
    import pwd
    folder = tempfile.mkdtemp()
    os.chmod(folder, 0o755)
    path = os.path.join(folder, "acme.ini")
    with open(path, "w") as fh:
        fh.write(MINIMAL)
    os.chmod(path, 0o600)
    cli.main(["-c", path, "status"])            # imports everything while still root
    capsys.readouterr()
    nobody = pwd.getpwnam("nobody").pw_uid
    os.seteuid(nobody)
    try:
        code = cli.main(["-c", path, "status"])
    finally:
        os.seteuid(0)
        shutil.rmtree(folder)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "%s is owned by root and mode 0600; run as root or chown it to nobody" % path in err


def test_lock_message_names_the_holder_once(tmp_path):
    from acme_aliyun.errors import LockHeld
    from acme_aliyun.store import Store
    store = Store(str(tmp_path / "state"))
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.path.insert(0, %r)\n"
                               "from acme_aliyun.store import Store\n"
                               "with Store(%r).lock():\n    print('locked', flush=True); sys.stdin.read()"
                               % (os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                  str(tmp_path / "state"))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld) as exc:
            with store.lock(wait=False):
                pass
    finally:
        holder.stdin.close()
        holder.wait(10)
    msg = str(exc.value)
    assert re.match(r"another run \(pid %d, started \d\d:\d\d\) holds the lock on " % holder.pid, msg), msg
    assert msg.count("pid") == 1


# --- 21: aliases and completion -------------------------------------------------------------

def test_renew_and_certificates_are_aliases(tmp_path, capsys):
    from acme_aliyun.cli import certs as cli_ops
    p = cli.build_parser()
    assert p.parse_args(["renew", "www"]).func is cli_ops.cmd_issue
    assert p.parse_args(["certificates"]).func is cli_ops.cmd_status
    ini = tmp_path / "acme.ini"
    ini.write_text(MINIMAL)
    assert cli.main(["certificates", "-c", str(ini)]) == 0
    assert "www.example.test" in capsys.readouterr().out


def _complete(script, *words):
    """What bash offers after typing words (the last one being completed)."""
    program = script + '\nCOMP_WORDS=(%s); COMP_CWORD=%d; _acme_aliyun; printf "%%s\\n" "${COMPREPLY[@]}"\n' % (
        " ".join("'%s'" % w for w in words), len(words) - 1)
    r = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return sorted(line for line in r.stdout.splitlines() if line)


def test_bash_completion_is_generated_from_the_parser(capsys):
    assert cli.main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    verbs = _complete(script, "acme-aliyun", "")
    for verb in ("directory", "account", "issue", "renew", "status", "certificates", "revoke", "run", "deploy",
                 "cloud", "completion"):
        assert verb in verbs, verbs
    assert _complete(script, "acme-aliyun", "acc") == ["account"]
    assert _complete(script, "acme-aliyun", "-c", "x.ini", "account", "r") == ["register", "rollover"]
    assert _complete(script, "acme-aliyun", "revoke", "www", "--reason", "k") == ["keyCompromise"]
    assert "--dry-run" in _complete(script, "acme-aliyun", "deploy", "--")
    assert _complete(script, "acme-aliyun", "cloud", "") == ["--help", "-h", "check"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_unreadable_key_and_state_say_owner_and_fix(capsys):
    """As user nobody: a root-only account key and state folder get the same owner/mode/fix line."""
    import pwd
    folder = tempfile.mkdtemp()
    os.chmod(folder, 0o755)
    ini = os.path.join(folder, "acme.ini")
    with open(ini, "w") as fh:
        fh.write(MINIMAL)
    os.chmod(ini, 0o644)
    key = os.path.join(folder, "account.key")
    with open(key, "w") as fh:
        fh.write("not read anyway\n")
    os.chmod(key, 0o600)
    os.mkdir(os.path.join(folder, "state"), 0o700)
    cli.main(["-c", ini, "status"])             # imports everything while still root
    capsys.readouterr()
    os.seteuid(pwd.getpwnam("nobody").pw_uid)
    try:
        show = cli.main(["-c", ini, "account", "show"])
        show_err = capsys.readouterr().err
        status = cli.main(["-c", ini, "status"])
        status_err = capsys.readouterr().err
    finally:
        os.seteuid(0)
        shutil.rmtree(folder)
    assert show == 2 and show_err.count("\n") == 1, show_err
    assert "%s is owned by root and mode 0600; run as root or chown it to nobody" % key in show_err
    assert status == 1 and status_err.count("\n") == 1, status_err
    assert "%s/state is owned by root and mode 0700; run as root or chown it to nobody" % folder in status_err
