"""StateDir = oss://bucket/prefix (issue 14, point 23): two Function Compute invocations started
together against a loopback OSS (tests/ossfake.py, real oss2 with its signature checked) make one
order; the lock object is written with x-oss-forbid-overwrite; a held lock names its holder; an
expired one is taken over; the state round-trips (the second invocation finds the certificate)."""

import json
import os
import subprocess
import sys
import time

import pytest

from acme_aliyun.report import when
from tests import demo
from tests.certcheck import check_stored
from tests.ossfake import OssFake

INVOKE = """\
import sys, types
from acme_aliyun import fc
creds = types.SimpleNamespace(access_key_id=%(ak)r, access_key_secret=%(secret)r, security_token=None)
ctx = types.SimpleNamespace(request_id="req", credentials=creds, region="cn-hangzhou",
                            function=types.SimpleNamespace(name="acme", handler="index.handler"))
print(fc.handler(sys.argv[1].encode(), ctx))
"""


@pytest.fixture
def oss():
    fake = OssFake(demo.AK, demo.SECRET, "acme-state")
    yield fake
    fake.stop()


def _code(tmp_path, pebble, emu, oss):  # noqa: F811
    code = tmp_path / "code"
    code.mkdir()
    ini = demo.write_demo_ini(str(code), pebble, emu)
    text = open(ini).read().replace("StateDir = state", "StateDir = oss://acme-state/prod")
    with open(ini, "w") as fh:
        fh.write(text.replace("[aliyun]\n", "[aliyun]\nOSSEndpoint = %s\n" % oss.endpoint))
    (tmp_path / "invoke.py").write_text(INVOKE % {"ak": demo.AK, "secret": demo.SECRET})
    return code, ini


def _invoke(tmp_path, ini, names):
    env = dict(demo.tool_env(), ACME_ALIYUN_CONFIG=ini)
    event = json.dumps({"triggerTime": "2026-11-29T03:17:00Z", "triggerName": "renew",
                        "payload": json.dumps({"action": "run", "certificates": names})})
    return subprocess.Popen([sys.executable, str(tmp_path / "invoke.py"), event], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def test_two_concurrent_invocations_share_the_oss_state(tmp_path, pebble, emu, oss):  # noqa: F811
    code, ini = _code(tmp_path, pebble, emu, oss)
    os.chmod(code, 0o555)                               # the code folder is read-only in FC
    oss.put_delay = 0.1                                 # uploads take a while: the two surely overlap
    orders = pebble.orders_created()
    try:
        procs = [_invoke(tmp_path, ini, ["shop"]) for _ in range(2)]
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        os.chmod(code, 0o755)
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert all(r["ok"] for r in results), outs
    actions = sorted(r["certificates"][0]["action"] for r in results)
    assert actions == ["issued", "unchanged"], results  # the second found the first's certificate
    assert pebble.orders_created() == orders + 1
    assert ("PUT", "prod/.lock", 409) in oss.calls      # the conditional write turned one away
    assert "prod/.lock" not in oss.objects              # released
    keys = set(oss.objects)
    assert {"prod/account.key", "prod/certs/shop/current.symlink", "prod/certs/shop/fullchain.pem.symlink"} <= keys
    assert oss.objects["prod/certs/shop/current.symlink"].startswith(b"versions/")
    # the objects are a complete state: mirror them to a folder and check the certificate
    folder = tmp_path / "mirror"
    for key, data in oss.objects.items():
        path = folder / key[len("prod/"):]
        path.parent.mkdir(parents=True, exist_ok=True)
        if key.endswith(".symlink"):
            os.symlink(data.decode(), str(path)[:-len(".symlink")])
        else:
            path.write_bytes(data)
            path.chmod(0o600)
    check_stored(folder / "certs" / "shop", pebble.root_pem(), ["shop.example.test"])
    assert not any(n.startswith("acme-aliyun-state-") for n in os.listdir("/tmp")
                   if os.stat(os.path.join("/tmp", n)).st_mtime > time.time() - 60
                   and os.path.isdir(os.path.join("/tmp", n)) and os.listdir(os.path.join("/tmp", n)))


def test_a_held_lock_names_its_holder_and_an_expired_one_is_taken_over(tmp_path, pebble, emu, oss):  # noqa: F811
    _, ini = _code(tmp_path, pebble, emu, oss)
    held = {"pid": 4242, "host": "fc-instance-1", "started": int(time.time()), "expires": int(time.time()) + 600}
    oss.objects["prod/.lock"] = json.dumps(held).encode()
    env = demo.tool_env()
    r = subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini, "run", "--no-wait", "shop"], env=env,
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "another run (pid 4242 on fc-instance-1, started" in r.stderr and "oss://acme-state/prod" in r.stderr
    held["expires"] = int(time.time()) - 1              # its invocation died long ago
    oss.objects["prod/.lock"] = json.dumps(held).encode()
    r = subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini, "run", "shop"], env=env,
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "removing the lock of a run that did not finish (pid 4242" in r.stderr
    assert "prod/.lock" not in oss.objects and "prod/certs/shop/current.symlink" in oss.objects
    last = json.loads(oss.objects["prod/last-run.json"])["certificates"]       # the last-run record, in OSS
    assert list(last) == ["shop"] and (last["shop"]["action"], last["shop"]["counts"]["deployed"]) == ("issued", 1)
    objects = dict(oss.objects)
    s = subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini, "status"], env=env,
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    lines = s.stdout.splitlines()
    shop = next(i for i, line in enumerate(lines) if line.startswith("shop "))
    assert s.returncode == 0 and "due now" not in lines[shop] and " at 20" in lines[shop], s.stdout   # read from OSS
    assert lines[shop + 1].strip() == "last run %s: issued; targets: 1 deployed, 0 unchanged, 0 refused, 0 failed" % (
        when(last["shop"]["at"])), s.stdout
    assert oss.objects == objects                       # status wrote nothing


def test_wrong_secret_is_refused_by_the_signature_check(tmp_path, pebble, emu, oss):  # noqa: F811
    _, ini = _code(tmp_path, pebble, emu, oss)
    env = dict(demo.tool_env(), ALIBABA_CLOUD_ACCESS_KEY_SECRET="not-the-right-secret-123")
    r = subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini, "run", "shop"], env=env,
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "state oss://acme-state/prod: lock: SignatureDoesNotMatch (HTTP 403" in r.stderr, r.stderr
    assert oss.objects == {} and "Traceback" not in r.stderr and "not-the-right-secret-123" not in r.stderr
