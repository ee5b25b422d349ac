"""Shared fixtures: Pebble on loopback, acme.ini writers, running the CLI."""

import os
import subprocess
import sys
import textwrap

import pytest

from tests import relay
from tests.key_guard import _no_key_in_url_query, pytest_runtest_protocol  # noqa: F401
from tests.key_guard import pytest_sessionfinish as _key_guard_sessionfinish
from tests.pebble import Pebble
from tests.relay import pytest_testnodedown  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The suite starts the tool as a separate process many hundreds of times: let those processes keep
# the compiled acme_aliyun modules in __pycache__ (git-ignored) rather than compile all of them on
# every start, where the environment says not to write bytecode (about a fifth of their CPU time).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    """No test may reach the real cloud or the ECS metadata server, nor pick up a user's keys."""
    for k in list(os.environ):
        if k.startswith(("ALIBABA_CLOUD_", "ALIYUN_", "ACME_ALIYUN_")) or k.lower().endswith("_proxy"):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", os.environ.get("HOME", "/root"))


@pytest.fixture(scope="session")
def pebble(tmp_path_factory):
    """One Pebble for the session: PEBBLE_VA_NOSLEEP=1, default 5 % nonce rejection kept on purpose."""
    p = Pebble(str(tmp_path_factory.mktemp("pebble")))
    p.start()
    yield p
    p.stop()


def write_ini(folder, pebble, body="", section="acme", key_type=None, extra_acme=""):
    """An acme.ini pointed at Pebble; body is appended (certificate sections etc.)."""
    folder = str(folder)
    lines = [
        "[%s]" % section,
        "ACMEDirectory = %s" % pebble.directory_url,
        "AccountKeyFile = account.key",
        "CABundle = %s" % pebble.ca_bundle,
        "Contacts = mailto:admin@example.test",
        "StateDir = state",
    ]
    if key_type:
        lines.append("KeyType = %s" % key_type)
    text = "\n".join(lines) + "\n" + textwrap.dedent(extra_acme) + "\n" + textwrap.dedent(body)
    path = os.path.join(folder, "acme.ini")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def run_cli(*args, env=None, timeout=120, cwd=None):
    """The CLI as a user runs it: a separate process. Returns CompletedProcess with text output.

    Whatever it prints is checked for the suite's canary secrets.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-m", "acme_aliyun"] + [str(a) for a in args], capture_output=True,
                       text=True, env=full_env, timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd)
    leaked = leaked_secrets(r.stdout + r.stderr)
    assert not leaked, "secret(s) %s printed by acme-aliyun %s" % (", ".join(leaked), " ".join(map(str, args)))
    return r


def _suite_secrets():
    """The secrets every test's tool runs use: the demo's and the canary module's."""
    from tests import canary, demo
    values = {"demo AccessKeySecret": demo.SECRET}
    values.update(canary.CANARIES)
    return values


def leaked_secrets(text):
    return sorted(name for name, value in _suite_secrets().items() if value and value in text)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Every test's captured stdout, stderr and log are checked for the canary secrets too."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or report.failed:
        return
    leaked = leaked_secrets("".join(content for _, content in report.sections))
    if leaked:
        report.outcome = "failed"
        report.longrepr = "secret(s) leaked into captured output: %s" % ", ".join(leaked)


def pytest_collection_modifyitems(config, items):
    """In an xdist worker, the modules holding a test marked slow go first, each in its own order (the
    rest keep theirs): with make test's --dist loadscope --no-loadscope-reorder they are handed out
    first, so the longest test starts at once instead of last. Every worker sorts alike, as xdist needs."""
    if relay.is_worker(config):
        slow = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
        items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow)


@pytest.fixture
def emu(pebble):
    """The demo's Alibaba Cloud emulator on loopback (tests/demo.py seeds it). Folders with an
    emulator of their own (tests/cloud, tests/emulator, tests/targets) override this fixture."""
    from tests import demo
    e = demo.start_emulator(pebble)
    yield e
    e.stop()


@pytest.fixture
def restore_logging():
    """cli.main() run in-process puts its handler on the root logger, pointing at the captured stderr:
    take it off again and put the root level back (modules use it with pytest.mark.usefixtures)."""
    import logging
    root = logging.getLogger()
    level = root.level
    yield
    for h in list(root.handlers):
        if getattr(h, "_acme_aliyun", False):
            root.removeHandler(h)
    root.setLevel(level)


@pytest.fixture
def cli():
    return run_cli


def pytest_sessionfinish(session, exitstatus):
    """The key guard's verdict; an xdist worker also hands the secrets audit's list to the controller."""
    _key_guard_sessionfinish(session, exitstatus)
    module = sys.modules.get("tests.robustness.test_secrets")
    if relay.is_worker(session.config) and module is not None:
        relay.send(session.config, "secrets_audit", module.AUDITED)


def pytest_terminal_summary(terminalreporter):
    """What the secrets audit covered (tests/robustness/test_secrets.py), when it ran: in this
    process, or in the xdist workers (tests/relay.py)."""
    module = sys.modules.get("tests.robustness.test_secrets")
    audited = relay.gathered("secrets_audit", module.AUDITED if module is not None else ())
    if audited and not relay.is_worker(terminalreporter.config):
        from tests.robustness.test_secrets import audit_summary
        terminalreporter.section("secrets audit")
        for line in audit_summary(audited):
            terminalreporter.write_line(line)
