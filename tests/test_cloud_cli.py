"""The cloud side through the CLI without credentials (cloud check and a wrong secret: robustness/test_secrets.py)."""

from tests import demo
from tests.canary import run_demo_tool as _run


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
