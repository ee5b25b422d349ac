"""The files under deploy/: systemd units, cron file, shell scripts, FC package description, RAM policy."""

import datetime
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy")
SERVICE = os.path.join(DEPLOY, "systemd", "acme-aliyun.service")
TIMER = os.path.join(DEPLOY, "systemd", "acme-aliyun.timer")
CRON = os.path.join(DEPLOY, "cron", "acme-aliyun")
INSTALL = os.path.join(DEPLOY, "install-ecs.sh")
BUILD = os.path.join(DEPLOY, "fc", "build.sh")
S_YAML = os.path.join(DEPLOY, "fc", "s.yaml")
POLICY = os.path.join(DEPLOY, "fc", "policy.json")
INDEX = os.path.join(DEPLOY, "fc", "index.py")
ECS_INI = os.path.join(DEPLOY, "acme.ini.ecs.example")
FC_INI = os.path.join(DEPLOY, "fc", "acme.ini.example")
EXEC = "/opt/acme-aliyun/venv/bin/acme-aliyun -c /etc/acme-aliyun/acme.ini --quiet run"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")

def required_actions():
    """What the policy must grant, from the registered products' API facts (issue 11)."""
    import acme_aliyun.targets  # noqa: F401 (registers the target products)
    from acme_aliyun.cloud import sdk
    return sdk.ram_actions()


def read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def unit(path):
    """{section: {key: [values]}}; systemd allows a key more than once."""
    out, section = {}, None
    for raw in read(path).splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = out.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return out


def seconds(span):
    """A systemd time span such as 2h, 90min, 1h 30min, 3600 -> seconds."""
    units = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hr": 3600, "d": 86400}
    total = 0
    for n, u in re.findall(r"(\d+)\s*([a-z]*)", span):
        total += int(n) * units[u or "s"]
    return total


@pytest.fixture(scope="module")
def verify_copies(tmp_path_factory):
    """The units in a temp folder with ExecStart=/bin/true (the venv does not exist here)."""
    folder = tmp_path_factory.mktemp("units")
    for src in (SERVICE, TIMER):
        text = read(src)
        if src == SERVICE:
            text = re.sub(r"(?m)^ExecStart=.*$", "ExecStart=/bin/true", text)
        (folder / os.path.basename(src)).write_text(text)
    return folder


# --- systemd ----------------------------------------------------------------------------------

@pytest.mark.skipif(not SYSTEMD_ANALYZE, reason="systemd-analyze is not installed")
def test_units_pass_systemd_analyze_verify(verify_copies):
    r = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", "acme-aliyun.service", "acme-aliyun.timer"],
                       cwd=str(verify_copies), capture_output=True, text=True, timeout=30)
    output = r.stdout + r.stderr
    assert r.returncode == 0, output
    # verify exits 0 on unknown keys and bad values: they are only warnings on stderr
    for marker in ("Unknown key", "Unknown section", "Unknown lvalue", "ignoring", "Failed to parse",
                   "Invalid", "is not executable", "Unknown assignment"):
        assert marker.lower() not in output.lower(), output


@pytest.mark.skipif(not SYSTEMD_ANALYZE, reason="systemd-analyze is not installed")
def test_service_exposure_is_low(verify_copies):
    r = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", "acme-aliyun.service"],
                       cwd=str(verify_copies), capture_output=True, text=True, timeout=30)
    m = re.search(r"Overall exposure level for acme-aliyun\.service: ([0-9.]+)", r.stdout)
    if r.returncode != 0 and m is None:
        pytest.skip("systemd-analyze security --offline is not supported here: %s" % r.stderr.strip()[:200])
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.5, r.stdout


def test_service_settings():
    u = unit(SERVICE)
    s = u["Service"]
    one = {k: v[-1] for k, v in s.items()}
    assert one["Type"] == "oneshot"
    assert s["ExecStart"] == [EXEC]
    expected = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/acme-aliyun",
        "PrivateTmp": "yes", "ProtectHome": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native", "UMask": "0077", "StateDirectory": "acme-aliyun",
        "User": "acme-aliyun", "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
    }
    for key, value in expected.items():
        assert one.get(key) == value, key
    assert set(one["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "DynamicUser" not in s, "state and config must belong to a stable user (see the unit's comment)"
    assert seconds(one["TimeoutStartSec"]) >= 3600
    assert u["Unit"]["ConditionPathExists"] == ["/etc/acme-aliyun/acme.ini"]
    assert "network-online.target" in u["Unit"]["After"][0]


def test_timer_runs_twice_a_day_at_a_random_moment():
    t = unit(TIMER)["Timer"]
    assert t["Persistent"] == ["true"]
    assert seconds(t["RandomizedDelaySec"][0]) >= 3600
    assert unit(TIMER)["Install"]["WantedBy"] == ["timers.target"]
    (calendar,) = t["OnCalendar"]
    if SYSTEMD_ANALYZE:
        r = subprocess.run([SYSTEMD_ANALYZE, "calendar", "--iterations=4", calendar],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        times = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+)", r.stdout)
        assert len(times) == 4, r.stdout
        moments = [datetime.datetime.strptime(tm, "%Y-%m-%d %H:%M:%S") for tm in times]
        gaps = {b - a for a, b in zip(moments, moments[1:])}
        assert gaps == {datetime.timedelta(hours=12)}, times          # twice a day, evenly spaced
    else:
        assert re.search(r"\d\d,\d\d:", calendar)


# --- MemoryDenyWriteExecute is safe for what the service loads ---------------------------------

MDWE_WORKLOAD = textwrap.dedent("""
    import ctypes, errno, mmap, sys
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(65, 1, 0, 0, 0) != 0:          # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
        print("unsupported", ctypes.get_errno()); sys.exit(77)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        sys.exit("W+X mapping allowed: PR_SET_MDWE did not take effect")
    except OSError:
        pass
    import ssl, requests, dns.resolver, jmespath
    import aliyunsdkcore.client, aliyunsdkcdn, aliyunsdkdcdn, aliyunsdkcloudapi, aliyunsdkalidns
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import acme_aliyun.cli, acme_aliyun.runner, acme_aliyun.deployer, acme_aliyun.issuer, acme_aliyun.notify
    import acme_aliyun.cloud.sdk, acme_aliyun.cloud.credentials
    from acme_aliyun import pki
    key = ec.generate_private_key(ec.SECP256R1())
    x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mdwe.example")])).sign(key, hashes.SHA256())
    pki.generate_key("rsa-2048") if "rsa-2048" in pki.KEY_TYPES else None
    ssl.create_default_context()
    print("ok")
""")


def test_memory_deny_write_execute_is_safe():
    """The kernel's PR_SET_MDWE refuses W+X memory as the unit's MemoryDenyWriteExecute=yes does."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", MDWE_WORKLOAD], capture_output=True, text=True, timeout=60, env=env)
    if r.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+): %s" % r.stdout.strip())
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


# --- cron ------------------------------------------------------------------------------------------

CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?(,\d+(-\d+)?)*)(/\d+)?$")


def cron_jobs():
    jobs = []
    for line in read(CRON).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", line):
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, "5 time fields + user + command: %r" % line
        jobs.append(fields)
    return jobs


def test_cron_file_parses():
    assert "." not in os.path.basename(CRON), "cron ignores /etc/cron.d files with a dot in the name"
    (job,) = cron_jobs()
    minute, hour, dom, month, dow, user, command = job
    for f in (minute, hour, dom, month, dow):
        assert CRON_FIELD.match(f), f
    assert minute.isdigit() and len(hour.split(",")) == 2, "twice a day"
    assert user == "acme-aliyun"
    assert "%" not in command, "cron turns % into a newline"
    assert "flock" not in command, "the tool locks itself"
    assert "/opt/acme-aliyun/venv/bin/acme-aliyun -c /etc/acme-aliyun/acme.ini --quiet run --no-wait" in command
    assert re.search(r"sleep .*(shuf|RANDOM)", command), "a random sleep"
    r = subprocess.run(["sh", "-n", "-c", command], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "exit code 3" in read(CRON).lower() or "code 3" in read(CRON)


# --- shell scripts ------------------------------------------------------------------------------

@pytest.mark.parametrize("script", [INSTALL, BUILD])
def test_shell_scripts(script):
    r = subprocess.run(["bash", "-n", script], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert os.access(script, os.X_OK), "%s is not executable" % script
    assert read(script).startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in read(script)


def test_install_script_help_and_paths():
    r = subprocess.run(["bash", INSTALL, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "PACKAGE" in r.stdout, r.stderr
    r = subprocess.run(["bash", INSTALL, "--bogus"], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "unknown option" in r.stderr
    text = read(INSTALL)
    for piece in ("/opt/acme-aliyun", "/etc/acme-aliyun", "0700", "systemctl daemon-reload",
                  "systemctl enable --now acme-aliyun.timer", "/etc/cron.d/acme-aliyun", "/run/systemd/system"):
        assert piece in text, piece


def test_build_script_targets_the_runtime():
    text = read(BUILD)
    for piece in ("--platform", "manylinux2014_x86_64", "--only-binary=:all:", "--python-version",
                  "--target", "dist/acme-aliyun-fc.zip", "index.py", "acme.ini"):
        assert piece in text, piece
    # the runtime comes from s.yaml itself: tests/test_packaging_ops.py runs that part of the script
    assert 'pyver="${FC_PYTHON_VERSION:-$runtime}"' in text and "s.yaml" in text


# --- Function Compute ----------------------------------------------------------------------------

def test_s_yaml_text():
    text = read(S_YAML)
    assert "cronExpression: 'CRON_TZ=Asia/Shanghai 0 17 3,15 * * *'" in text
    assert "handler: index.handler" in text and "runtime: python3.10" in text


def test_s_yaml_structure():
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed: s.yaml parse check skipped "
                                              "(the text checks in test_s_yaml_text still ran)")
    with open(S_YAML, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    assert str(doc["edition"]).startswith("3.")
    (res,) = doc["resources"].values()
    assert res["component"] == "fc3"
    p = res["props"]
    assert (p["runtime"], p["handler"], p["memorySize"], p["timeout"]) == ("python3.10", "index.handler", 256, 900)
    assert "role" in p and p["role"]
    env = p["environmentVariables"]
    assert env["ACME_ALIYUN_STATE_DIR"] == "/mnt/nas/acme-aliyun"
    assert env["ACME_ALIYUN_CONFIG"] == "/code/acme.ini"
    assert not any(k.startswith("FC_") for k in env), "FC reserves FC_* names"
    mounts = p["nasConfig"]["mountPoints"]
    assert any(env["ACME_ALIYUN_STATE_DIR"].startswith(m["mountDir"].rstrip("/") + "/") for m in mounts)
    assert {"vpcId", "vSwitchIds", "securityGroupId"} <= set(p["vpcConfig"])
    assert p["code"].endswith("dist/acme-aliyun-fc.zip")
    (trigger,) = p["triggers"]
    assert trigger["triggerType"] == "timer"
    cfg = trigger["triggerConfig"]
    assert cfg["enable"] is True
    tz, _, cron = cfg["cronExpression"].partition(" ")
    assert tz == "CRON_TZ=Asia/Shanghai" and len(cron.split()) == 6
    assert json.loads(cfg["payload"]) == {"action": "run"}


def test_timer_payload_is_understood_by_the_handler():
    if importlib.util.find_spec("acme_aliyun.fc") is None:
        pytest.skip("acme_aliyun.fc does not exist yet")
    from acme_aliyun import fc
    payload = re.search(r"(?m)^\s*payload:\s*'(.*)'\s*$", read(S_YAML)).group(1)
    event = json.dumps({"triggerTime": "2024-01-01T00:00:00Z", "triggerName": "twice-a-day",
                        "payload": payload}).encode()
    assert fc.parse_event(event)["action"] == "run"


def test_index_py_exposes_the_handler(monkeypatch):
    if importlib.util.find_spec("acme_aliyun.fc") is None:
        pytest.skip("acme_aliyun.fc does not exist yet")
    monkeypatch.syspath_prepend(os.path.dirname(INDEX))
    monkeypatch.delitem(sys.modules, "index", raising=False)
    index = importlib.import_module("index")
    assert os.path.samefile(index.__file__, INDEX)
    from acme_aliyun import fc
    assert index.handler is fc.handler
    monkeypatch.delitem(sys.modules, "index")


# --- RAM policy -------------------------------------------------------------------------------------

def policy_actions(doc):
    actions = []
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow"
        a = st["Action"]
        actions += [a] if isinstance(a, str) else a
    return actions


def test_policy_is_least_privilege():
    doc = json.loads(read(POLICY))
    assert doc["Version"] == "1"
    actions = policy_actions(doc)
    assert len(actions) == len(set(actions)), "duplicate actions"
    assert set(actions) == required_actions()
    assert not any("*" in a for a in actions)


def test_docs_show_the_same_policy():
    for doc in ("ecs.md", "fc.md"):
        assert "deploy/fc/policy.json" in read(os.path.join(ROOT, "docs", doc)), doc
    blocks = re.findall(r"```json\n(.*?)```", read(os.path.join(ROOT, "docs", "ecs.md")), re.S)
    policies = [json.loads(b) for b in blocks if '"Statement"' in b and "cdn:" in b]
    assert policies == [json.loads(read(POLICY))]


# --- example configurations -------------------------------------------------------------------------

def test_example_configs_load():
    from acme_aliyun import config
    ecs = config.load(ECS_INI)          # an unknown key or section would raise (strict config)
    assert ecs.cloud.ram_role and not ecs.cloud.access_key_id
    rw = unit(SERVICE)["Service"]["ReadWritePaths"][-1]
    assert ecs.acme.state_dir == rw and ecs.acme.account_key_file.startswith(rw + "/")
    fc = config.load(FC_INI)
    assert not fc.cloud.access_key_id
    assert fc.acme.state_dir == "/mnt/nas/acme-aliyun"
    assert all(c.challenge == "dns-01" for c in fc.certs.values()), "no port 80 in Function Compute"
