"""The cloud side through the CLI without credentials (cloud check and a wrong secret: robustness/test_secrets.py)."""

import subprocess
import sys

import pytest

from tests import demo


@pytest.fixture
def emu(pebble):
    e = demo.start_emulator(pebble)
    yield e
    e.stop()


def _run(ini, *args, env=None):
    return subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini] + list(args),
                          env=env or demo.tool_env(), capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_no_credentials_at_all_is_a_usage_error(tmp_path, pebble, emu):
    ini = demo.write_demo_ini(str(tmp_path), pebble, emu)
    env = demo.tool_env()
    for k in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        env.pop(k)
    env["HOME"] = str(tmp_path)
    r = _run(ini, "cloud", "check", env=env)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "no Alibaba Cloud credentials found" in r.stderr
