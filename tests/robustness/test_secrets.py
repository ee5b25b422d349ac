"""Secrets never leave: the canary AccessKeySecret, the canary STS token, the rejected secret, the ACME
account key and every certificate private key must not appear in stdout, stderr (the log: the tool has
no log file of its own), notification bodies, --json output, exception text or any state file.

Every path runs the real CLI as a separate process with the canary STS credential (tests/canary.py)
against the emulator, with a webhook that is told about every run (OnSuccess = yes), and ends with
World.audit(): all captured text, every notification body and every file under the work folder except
the key files themselves. Paths that write keys also check the modes: 0700 folders, 0600 keys.
"""

import io
import json
import logging
import os
import re
import socket
import traceback

import pytest

import acme_aliyun.targets  # noqa: F401  (registers the products CloudClient.call("cdn", ...) below needs)
from acme_aliyun import cli
from acme_aliyun.cloud.credentials import CredentialProvider
from acme_aliyun.cloud.sdk import CloudClient, CloudError
from acme_aliyun.cloud.settings import CloudSettings
from tests import canary, demo
from tests.canary import (assert_no_secrets, assert_private_modes, assert_state_clean, find_secrets,
                          is_key_file, key_files, notify_section, run_tool, sts_env)
from tests.served import served_serials, stored_serial
from tests.webhook import Receiver

AUDITED = []          # (path, canaries, private keys, texts, files): printed in the terminal summary


class World:
    """A work folder with the demo acme.ini (canary STS credential via env), an emulator and a webhook."""

    def __init__(self, folder, pebble, emu, hook):
        self.folder, self.pebble, self.emu, self.hook = str(folder), pebble, emu, hook
        self.state = os.path.join(self.folder, "state")
        self.ini = self.write_ini()

    def write_ini(self, name="acme.ini", directory=None):
        """The demo acme.ini (ReadTimeout 2, webhook told about every run) as folder/name."""
        with open(demo.write_demo_ini(self.folder, self.pebble, self.emu)) as fh:
            text = fh.read()
        if directory:
            text = re.sub(r"ACMEDirectory = \S+", "ACMEDirectory = " + directory, text)
        text = text.rstrip("\n") + "\nReadTimeout = 2\n" + notify_section(self.hook.url, on_success=True)
        path = os.path.join(self.folder, name)
        with open(path, "w") as fh:
            fh.write(text)
        return path

    def run(self, *args, env=None, umask=None, ini=None, fast_retry=False):
        r = run_tool(ini or self.ini, *args, env=env or sts_env(), umask=umask, fast_retry=fast_retry)
        r.args_text = " ".join(str(a) for a in args)
        return r

    def audit(self, path, results, bodies_from=0, extra_texts=(), modes=False):
        """Every text of `results`, the notification bodies since bodies_from, every non-key file."""
        keys = key_files(self.state)
        assert len(keys) >= 3, keys          # the account key and both certificate keys, at least
        texts = 0
        for r in results:
            for name in ("stdout", "stderr"):
                assert_no_secrets(getattr(r, name), where="%s: `%s` %s" % (path, r.args_text, name), keys=keys)
                texts += 1
        for i, (_, body) in enumerate(self.hook.bodies[bodies_from:]):
            assert_no_secrets(body, where="%s: notification body %d" % (path, i), keys=keys)
            texts += 1
        for i, text in enumerate(extra_texts):
            assert_no_secrets(text, where="%s: text %d" % (path, i), keys=keys)
            texts += 1
        files = assert_state_clean(self.state)
        for folder, _, names in os.walk(self.folder):      # the ini files and anything else beside the state
            if folder.startswith(self.state):
                continue
            for f in names:
                p = os.path.join(folder, f)
                if not is_key_file(p):
                    with open(p, "rb") as fh:
                        assert_no_secrets(fh.read(), where=p, keys=keys)
                    files.append(p)
        if modes:
            assert_private_modes(self.state)
        AUDITED.append((path, len(canary.CANARIES), len(keys), texts, len(files)))


@pytest.fixture(scope="module")
def world(pebble, tmp_path_factory):
    emu = canary.start_canary_emulator(pebble, timeout_sleep_s=3.0)
    hook = Receiver()
    w = World(tmp_path_factory.mktemp("secrets"), pebble, emu, hook)
    w.first = w.run("run", umask=0)            # umask 0: the modes come from the tool, not from the umask
    yield w
    hook.close()
    emu.stop()


@pytest.fixture
def fresh(world):
    """The world with no faults, no failing domain, and the index of the next notification body."""
    world.emu.set_faults(0.0)
    world.emu.heal_domain("img.demo.test")
    yield len(world.hook.bodies)
    world.emu.set_faults(0.0)
    world.emu.heal_domain("img.demo.test")


def _error_lines(text):
    return [ln for ln in text.splitlines() if "rejected the AccessKeySecret" in ln]


# --- the paths ----------------------------------------------------------------------------------

def test_successful_run(world):
    r = world.first
    assert r.returncode == 0, r.stdout + r.stderr
    served = served_serials(world.emu.endpoint, demo.AK, demo.SECRET, cdn=["www.demo.test", "shop.example.test"])
    assert served == {"cdn www.demo.test": stored_serial(world.state, "wildcard"),
                      "cdn shop.example.test": stored_serial(world.state, "shop")}
    assert len(world.hook.bodies) >= 1
    world.audit("successful run (umask 0)", [r], modes=True)


def test_run_with_faults(world, fresh):
    world.emu.set_faults(0.3, kinds=("throttling", "unavailable", "internal", "reset"), seed=7)
    r = world.run("run", "--force", fast_retry=True)       # the product's attempts, shorter waits
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert any(c.fault for c in world.emu.calls)
    world.audit("run --force with faults", [r], fresh, modes=True)


def test_every_upload_reset(world, fresh):
    """Every certificate upload (SSLPri in the request) dies with a reset: the errors go everywhere."""
    writes = ("SetCdnDomainSSLCertificate", "BatchSetCdnDomainServerCertificate", "SetDcdnDomainSSLCertificate",
              "SetDomainCertificate")
    world.emu.set_faults(1.0, kinds=("reset",), seed=3, actions=writes)
    r = world.run("run", "--force", "--json", "shop", fast_retry=True)
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert [t["status"] for c in doc["certificates"] for t in c["targets"]] == ["failed"]
    world.audit("uploads reset (--json)", [r], fresh, modes=True)


def test_wrong_secret_is_one_clear_line(world, fresh):
    env = sts_env(secret=canary.WRONG_SECRET)
    r = world.run("run", "--force", env=env)
    c = world.run("cloud", "check", env=env)
    assert r.returncode == 1 and c.returncode == 1, r.stdout + r.stderr + c.stdout + c.stderr
    probes = [ln for ln in c.stdout.splitlines() if " FAIL " in ln or " ok " in ln]
    # RPC: the SDK names it InvalidAccessKeySecret; OSS and ROA V3 (FC) answer SignatureDoesNotMatch
    assert probes and all(" FAIL " in ln and ("InvalidAccessKeySecret" in ln or "SignatureDoesNotMatch" in ln)
                          for ln in probes), c.stdout
    for res in (r, c):
        assert "Traceback" not in res.stderr
        lines = _error_lines(res.stdout + res.stderr)
        assert lines, res.stdout + res.stderr
        for ln in lines:       # the SDK turns the server's SignatureDoesNotMatch into InvalidAccessKeySecret
            assert re.search(r"[(\[](SignatureDoesNotMatch|InvalidAccessKeySecret)[)\],]", ln) and "(masked)" in ln, ln
            assert canary.STS_ACCESS_KEY_ID not in ln
    t = world.run("cloud", "check", env=sts_env(token=canary.WRONG_TOKEN))
    assert t.returncode == 1 and "InvalidSecurityToken" in t.stdout, t.stdout + t.stderr
    world.audit("wrong secret / wrong STS token (run, cloud check)", [r, c, t], fresh, modes=True)


def test_failing_target_json_and_webhook(world, fresh):
    """A target that keeps failing (fast cloud backoff): --json and the webhook name it; nothing leaks."""
    world.emu.fail_domain("img.demo.test", code="InternalError", http_status=500)
    r = world.run("run", "--force", "--json", fast_retry=True)
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    failed = [t for c in doc["certificates"] for t in c["targets"] if t["status"] == "failed"]
    assert [(t["target"], t["error"]["code"]) for t in failed] == [("img.demo.test", "InternalError")], failed
    bodies = world.hook.json()[fresh:]
    assert bodies and bodies[-1]["ok"] is False and "img.demo.test" in bodies[-1]["text"]
    world.audit("failing target: run --force --json + webhook", [r], fresh, modes=True)


def test_status_targets(world, fresh):
    results = [world.run("status", "--targets"), world.run("status", "--targets", "--json")]
    doc = json.loads(results[1].stdout)         # a target failed by an earlier test serves the old one
    targets = [t for c in doc["certificates"] for t in c["targets"]]
    behind = [t["target"] for t in targets if t["error"] or t["matches"] is False]
    for r in results:           # exit 1 while a target does not serve the local certificate
        assert r.returncode == (1 if behind else 0), (behind, r.stdout + r.stderr)
    assert doc["ok"] is not bool(behind) and "www.demo.test" in results[0].stdout
    world.audit("status --targets (+ --json)", results, fresh)


def test_cloud_check(world, fresh):
    world.emu.reset_calls()
    r = world.run("cloud", "check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "env:sts" in r.stdout and "FAIL" not in r.stdout
    for target in ("www.demo.test", "img.demo.test", "cdn.demo.test", "shop.example.test", "static.demo.test",
                   demo.GROUP, demo.CLB_LISTENER, demo.ALB_LISTENER, "zones"):   # a probe per target, each ok,
                                                                                     # and nothing written
        line = next(line for line in r.stdout.splitlines() if target in line)
        assert " ok " in line, line
    assert world.emu.calls and world.emu.write_calls() == []
    world.audit("cloud check", [r], fresh)


def test_dry_run_plan(world, fresh):
    before = served_serials(world.emu.endpoint, demo.AK, demo.SECRET, cdn=["www.demo.test"])
    world.emu.reset_calls()
    r = world.run("deploy", "wildcard", "--dry-run", "--force", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    [cert] = json.loads(r.stdout)["certificates"]
    statuses = {t["status"] for t in cert["targets"]}
    assert len(cert["targets"]) == demo.WILDCARD_TARGETS and statuses <= {"planned", "unchanged"}
    assert world.emu.calls and world.emu.write_calls() == []
    assert served_serials(world.emu.endpoint, demo.AK, demo.SECRET, cdn=["www.demo.test"]) == before
    world.audit("deploy --dry-run --force --json", [r], fresh)


def test_verbose_debug_logs(world, fresh):
    results = [world.run("-v", "run", "--force"), world.run("-v", "cloud", "check"),
               world.run("-v", "status", "--targets")]
    assert [r.returncode for r in results] == [0, 0, 0], [r.stdout + r.stderr for r in results]
    assert "DEBUG" in results[0].stderr
    world.audit("-v (run --force, cloud check, status --targets)", results, fresh, modes=True)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_acme_server_down(world, fresh):
    ini = world.write_ini("acme-down.ini", directory="https://127.0.0.1:%d/dir" % _closed_port())
    results = [world.run("run", "--force", ini=ini, fast_retry=True),
               world.run("-v", "run", "--force", ini=ini, fast_retry=True)]
    for r in results:
        assert r.returncode != 0, r.stdout + r.stderr
        assert (r.stdout + r.stderr).strip()
    world.audit("ACME server down (run, -v run)", results, fresh, modes=True)


def test_cloud_endpoint_down(world, fresh):
    """Connection refused: the SDK's error names the URL, whose query holds the key id and the STS token."""
    ini = world.write_ini("cloud-down.ini")
    text = open(ini).read().replace(world.emu.endpoint, "127.0.0.1:%d" % _closed_port())
    text = text.replace("[aliyun]\n", "[aliyun]\nConnectTimeout = 1\n")
    with open(ini, "w") as fh:
        fh.write(text)
    r = world.run("-v", "cloud", "check", ini=ini, fast_retry=True)
    assert r.returncode == 1 and "connection refused" in r.stdout, r.stdout + r.stderr
    world.audit("cloud endpoint down (-v cloud check)", [r], fresh)


@pytest.fixture
def root_logging():
    """cli.main() installs its handler on the root logger: put the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("verbose", [False, True], ids=["plain", "verbose"])
def test_internal_error_text(world, fresh, verbose, monkeypatch, root_logging):
    """A crash (not a ToolError) whose exception text carries the upload parameters, in `run` in-process:
    `internal error: ...` on stderr, and with -v the traceback too. Neither may carry the secrets."""
    for k, v in sts_env().items():
        if k.startswith("ALIBABA_CLOUD_"):
            monkeypatch.setenv(k, v)

    def apply(plan, cloud, dry_run=False, on_done=None):
        cred = cloud.credentials.get()
        raise RuntimeError("unexpected answer to %r" % {"SSLPri": plan.bundle.key_pem, "AccessKeySecret":
                                                       cred.access_key_secret, "SecurityToken": cred.security_token})

    monkeypatch.setattr("acme_aliyun.deployer.apply", apply)
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    code = cli.main((["-v"] if verbose else []) + ["-c", world.ini, "run", "--force", "shop"])
    assert code == 1
    assert "internal error: RuntimeError" in err.getvalue(), err.getvalue()
    world.audit("internal error in-process%s" % (" (-v traceback)" if verbose else ""), [], fresh,
                extra_texts=[err.getvalue(), out.getvalue()], modes=True)


def test_the_checker_catches_leaks(world):
    """assert_no_secrets itself: each canary, a key body line raw and URL-encoded, a bare key header."""
    keys = key_files(world.state)
    with open(keys[0]) as fh:
        line = [ln for ln in fh.read().splitlines() if "-----" not in ln][0]
    samples = list(canary.CANARIES.values()) + [
        "x" + canary.ACCESS_KEY_SECRET[14:30] + "x", line, line.replace("/", "%2F").replace("+", "%2B"),
        "Max retries exceeded with url: /?SSLPri=-----BEGIN%20EC%20PRIVATE%20KEY-----%0AMHc"]
    for sample in samples:
        assert find_secrets("text " + sample + " text", keys=keys), sample
    assert not find_secrets("[private key redacted] [redacted] STS.…Jd3(masked)", keys=keys)


# --- CloudError raised in-process, with the private key in the request -----------------------------

def _client(endpoint, secret=canary.ACCESS_KEY_SECRET, read_timeout=2.0):
    settings = CloudSettings(endpoint=endpoint, max_attempts=1, read_timeout=read_timeout, connect_timeout=1.0)
    creds = CredentialProvider.static("test", canary.STS_ACCESS_KEY_ID, secret, canary.SECURITY_TOKEN)
    return CloudClient(settings, creds)


CASES = {   # name: (endpoint kind, secret, emulator set-up)
    "signature (server string-to-sign)": ("emu", canary.WRONG_SECRET, None),
    "InternalError 500": ("emu", canary.ACCESS_KEY_SECRET, lambda e: e.fail_domain("img.demo.test")),
    "connection reset": ("emu", canary.ACCESS_KEY_SECRET, lambda e: e.set_faults(1.0, kinds=("reset",))),
    "read timeout": ("emu", canary.ACCESS_KEY_SECRET, lambda e: e.set_faults(1.0, kinds=("timeout",))),
    "connection refused": ("closed", canary.ACCESS_KEY_SECRET, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cloud_error_text_in_process(world, fresh, case, caplog):
    kind, secret, setup = CASES[case]
    if setup:
        setup(world.emu)
    endpoint = world.emu.endpoint if kind == "emu" else "127.0.0.1:%d" % _closed_port()
    with open(os.path.join(world.state, "certs", "wildcard", "privkey.pem")) as fh:
        key_pem = fh.read()
    with open(os.path.join(world.state, "certs", "wildcard", "fullchain.pem")) as fh:
        chain_pem = fh.read()
    client = _client(endpoint, secret, read_timeout=1.0)
    caplog.set_level("DEBUG")
    with pytest.raises(CloudError) as info:
        client.call("cdn", "SetCdnDomainSSLCertificate",
                    {"DomainName": "img.demo.test", "CertName": "leak-test", "CertType": "upload",
                     "SSLProtocol": "on", "SSLPub": chain_pem, "SSLPri": key_pem}, write=True)
    e = info.value
    texts = [str(e), repr(e), e.message, " ".join(map(str, e.args)),
             "".join(traceback.format_exception(type(e), e, e.__traceback__)), caplog.text]
    assert "\n" not in str(e), str(e)
    world.audit("CloudError in-process: %s" % case, [], fresh, extra_texts=texts)


# --- acme.ini holding the keys ---------------------------------------------------------------------

@pytest.mark.parametrize("mode,warned", [(0o644, True), (0o600, False)], ids=["0644-warns", "0600-silent"])
def test_ini_with_keys_readable_by_others_draws_a_warning(world, fresh, mode, warned):
    ini = world.write_ini("keys-%o.ini" % mode)
    text = open(ini).read().replace("[aliyun]\n", "[aliyun]\nAccessKeyId = %s\nAccessKeySecret = %s\n"
                                    % (demo.AK, demo.SECRET))
    with open(ini, "w") as fh:
        fh.write(text)
    os.chmod(ini, mode)
    r = world.run("cloud", "check", ini=ini, env=demo.tool_env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "config:[aliyun]" in r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ini in ln and "readable" in ln]
    assert bool(lines) == warned, r.stderr
    for stream in (r.stdout, r.stderr):
        assert_no_secrets(stream, state_dir=world.state, extra=[demo.SECRET], where="ini %o" % mode)
    AUDITED.append(("acme.ini with keys %o" % mode, len(canary.CANARIES) + 1, len(key_files(world.state)), 2, 0))


# --- a second account profile ([aliyun:two]) with its key in acme.ini (issue 15) -------------------

@pytest.fixture
def account_two(world):
    from tests.aliyun_emulator import Emulator, EmulatorConfig
    emu = Emulator(EmulatorConfig(accounts={canary.PROFILE_KEY_ID: canary.PROFILE_SECRET})).start()
    emu.add_cdn_domain("shop.example.test")
    yield emu
    emu.stop()


def _profile_ini(world, emu, folder, secret):
    """The world's acme.ini (outside the audited folder: it holds the key) with cert shop in [aliyun:two]."""
    with open(world.ini) as fh:
        text = fh.read()
    text = text.replace("AccountKeyFile = account.key", "AccountKeyFile = " + os.path.join(world.folder, "account.key"))
    text = text.replace("StateDir = state", "StateDir = " + world.state).replace("[cert:shop]\n",
                                                                              "[cert:shop]\nAccount = two\n")
    text += "\n[aliyun:two]\nEndpoint = %s\nReadTimeout = 2\nAccessKeyId = %s\nAccessKeySecret = %s\n" % (
        emu.endpoint, canary.PROFILE_KEY_ID, secret)
    path = os.path.join(str(folder), "two-%s.ini" % ("ok" if secret == canary.PROFILE_SECRET else "wrong"))
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    return path


def test_second_profile_secrets(world, fresh, account_two, tmp_path):
    ini = _profile_ini(world, account_two, tmp_path, canary.PROFILE_SECRET)
    results = [world.run("run", "--force", "shop", ini=ini), world.run("-v", "cloud", "check", ini=ini),
               world.run("-v", "status", "--targets", ini=ini)]
    assert [r.returncode for r in results] == [0, 0, 0], [r.stdout + r.stderr for r in results]
    assert "Credentials [aliyun:two]: config:[aliyun:two]" in results[1].stdout
    assert account_two.cdn_state("shop.example.test")["ssl"] == "on"
    assert account_two.calls.signed_by() == {canary.PROFILE_KEY_ID}
    bad = _profile_ini(world, account_two, tmp_path, canary.PROFILE_WRONG_SECRET)
    wrong = [world.run("run", "--force", "shop", ini=bad), world.run("-v", "cloud", "check", ini=bad)]
    for r in wrong:
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
        lines = _error_lines(r.stdout + r.stderr)
        assert lines and all("(masked)" in ln and canary.PROFILE_KEY_ID not in ln for ln in lines), lines
    world.audit("[aliyun:two] key in acme.ini (run, -v cloud check, -v status, wrong secret)", results + wrong,
                fresh, modes=True)


def audit_summary(audited=None):
    """The lines conftest's terminal-summary hook prints: what was audited (AUDITED, or the rows the
    xdist workers relayed), path by path."""
    audited = AUDITED if audited is None else audited
    lines = ["secrets audit: %d paths" % len(audited)]
    for path, canaries, keys, texts, files in audited:
        lines.append("  %-62s %d canaries + %d private keys over %3d texts, %3d files"
                     % (path, canaries, keys, texts, files))
    return lines
