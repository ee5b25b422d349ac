"""The cloud side through the CLI: `cloud check`, a wrong secret, and the credential source shown."""

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


def test_cloud_check_names_the_source_and_probes_each_target(tmp_path, pebble, emu):
    ini = demo.write_demo_ini(str(tmp_path), pebble, emu)
    r = _run(ini, "cloud", "check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Credentials: env" in r.stdout
    for target in ("www.demo.test", "img.demo.test", "cdn.demo.test", "shop.example.test", "static.demo.test",
                   demo.GROUP, demo.CLB_LISTENER, demo.ALB_LISTENER, "zones"):
        line = next(line for line in r.stdout.splitlines() if target in line)
        assert " ok " in line, line
    assert emu.write_calls() == []
    assert demo.SECRET not in r.stdout + r.stderr


def test_wrong_secret_is_one_clear_line(tmp_path, pebble, emu):
    ini = demo.write_demo_ini(str(tmp_path), pebble, emu)
    env = dict(demo.tool_env(), ALIBABA_CLOUD_ACCESS_KEY_SECRET="not-the-right-secret-123")
    r = _run(ini, "cloud", "check", env=env)
    assert r.returncode == 1
    fails = [line for line in r.stdout.splitlines() if "FAIL" in line]
    # RPC: the SDK names it InvalidAccessKeySecret; OSS and ROA V3 answer SignatureDoesNotMatch
    assert fails and all("rejected the AccessKeySecret" in line and (
        "InvalidAccessKeySecret" in line or "SignatureDoesNotMatch" in line) for line in fails), r.stdout
    assert "not-the-right-secret-123" not in r.stdout + r.stderr and demo.AK not in r.stdout + r.stderr
    d = _run(ini, "deploy", "shop", env=env)
    assert d.returncode == 1 and "InvalidAccessKeySecret" in d.stdout + d.stderr
    assert "Traceback" not in d.stderr and "not-the-right-secret-123" not in d.stdout + d.stderr


def test_no_credentials_at_all_is_a_usage_error(tmp_path, pebble, emu):
    ini = demo.write_demo_ini(str(tmp_path), pebble, emu)
    env = demo.tool_env()
    for k in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        env.pop(k)
    env["HOME"] = str(tmp_path)
    r = _run(ini, "cloud", "check", env=env)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "no Alibaba Cloud credentials found" in r.stderr


def test_cloud_check_probes_cas_and_write_proves_the_upload_permission(tmp_path, pebble, emu):
    ini = demo.write_demo_ini(str(tmp_path), pebble, emu)
    r = _run(ini, "cloud", "check")
    assert r.returncode == 0, r.stdout + r.stderr
    cas_line = next(line for line in r.stdout.splitlines() if line.strip().startswith("cas"))
    assert " ok " in cas_line and "0 uploaded certificate(s)" in cas_line
    assert not [c for c in emu.calls if c.action == "UploadUserCertificate"]     # read-only without --write
    r = _run(ini, "cloud", "check", "--write")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "uploaded and deleted a test certificate" in r.stdout
    assert [(c.action, c.code) for c in emu.write_calls()] == [("UploadUserCertificate", None),
                                                               ("DeleteUserCertificate", None)]
    assert emu.cas_certificates() == []
