"""Canary secrets, and the check that none of them (nor any private key) leaks anywhere.

A canary is a secret with a value no output could contain by chance: if it shows up
in stdout, stderr, a notification body, a --json document, an exception text or a
state file, the tool leaked it. The private keys are canaries too: every PEM private
key under the state folder (certificate keys, keys of orders in progress) and the
ACME account key, matched by the base64 lines of their bodies (raw and URL-encoded)
and by 24 characters from the middle of the body (a fragment an error message may
echo), not only by the "-----BEGIN ... PRIVATE KEY-----" header.

    emu = start_canary_emulator(pebble)          # the demo emulator + the canary STS credential
    r = run_tool(ini, "run", env=sts_env())
    assert_no_secrets([r.stdout, r.stderr], state_dir=folder / "state")
    assert_state_clean(folder / "state")          # every file but the keys themselves
    assert_private_modes(folder / "state")        # 0700 folders, 0600 keys
"""

import os
import re
import stat
import subprocess
import sys
from typing import Dict, Optional
from urllib.parse import quote

from tests import demo
from tests.conftest import ROOT

# --- the canaries -----------------------------------------------------------------------------

STS_ACCESS_KEY_ID = "STS.canaryNK4q8Zr2VwX7mJd3"
ACCESS_KEY_SECRET = "canary-secret-7Hq2ZpX9rLw4Tb8NcV1sKd6Yf3Mg"        # the STS credential's secret
SECURITY_TOKEN = "canary-sts-token-Qz8Lm3Xr7Tb2Wn5Kc9Vd4Hs6Jp1Fy0Ga" + "CAIS" * 8 + "v2Rk7Pq4"
WRONG_SECRET = "canary-wrong-secret-Bx5Tn8Wq2Lr7Zk4Mv9Hc3Jd"             # a secret the cloud rejects
WRONG_TOKEN = "canary-wrong-token-Gm6Rv1Xs8Pk3Wd7Zn2Lq" + "CAIS" * 4 + "Yt5Ce9Ub"  # an STS token the cloud rejects

# A second account profile ([aliyun:two], issue 15): its own AccessKey, given in acme.ini.
PROFILE_KEY_ID = "LTAIcanaryTwo7Rk2Mw9"
PROFILE_SECRET = "canary-profile-secret-Vn4Qz8Lt2Wk6Hs9Rb3Yd"
PROFILE_WRONG_SECRET = "canary-profile-wrong-Tc7Xm2Pq9Ld4Fz8Jn5Gk"

CANARIES = {
    "AccessKeySecret": ACCESS_KEY_SECRET,
    "SecurityToken": SECURITY_TOKEN,
    "wrong AccessKeySecret": WRONG_SECRET,
    "wrong SecurityToken": WRONG_TOKEN,
    "[aliyun:two] AccessKeySecret": PROFILE_SECRET,
    "[aliyun:two] wrong AccessKeySecret": PROFILE_WRONG_SECRET,
}
_PREFIX = re.compile(r"^canary-(?:[a-z]+-)*")
MIN_KEY_LINE = 16          # shorter base64 tail lines of a PEM body could match by chance
# Any PEM private-key header, raw or URL-encoded (%20 or +): a leak even of a key we do not know.
_KEY_HEADER = re.compile(r"BEGIN(?: |%20|\+)(?:[A-Z]+(?: |%20|\+))?PRIVATE(?: |%20|\+)KEY", re.I)


def add_sts(emu, expires_in=3600):
    """Make the canary STS credential known to the emulator (a credential of its one account)."""
    emu.add_sts_credentials(access_key_id=STS_ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET,
                            security_token=SECURITY_TOKEN, expires_in=expires_in)
    return emu


def start_canary_emulator(pebble, **config):
    """The demo emulator (domains, API group, DNS zone) that also accepts the canary STS credential."""
    return add_sts(demo.start_emulator(pebble, **config))


def sts_env(secret=ACCESS_KEY_SECRET, token=SECURITY_TOKEN):
    """The tool's environment with the canary STS credential (and nothing of the demo's keys)."""
    env = demo.tool_env()
    env.update(ALIBABA_CLOUD_ACCESS_KEY_ID=STS_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET=secret,
               ALIBABA_CLOUD_SECURITY_TOKEN=token)
    return env


def run_tool(ini, *args, env=None, umask=None, timeout=180, fast_retry=False):
    """`acme-aliyun -c ini ARGS` as a separate process; CompletedProcess with text output.

    fast_retry: the cloud client's backoff shrinks to milliseconds (tests/fastretry/sitecustomize.py);
    attempts and retry rules stay the product's."""
    cmd = [sys.executable, "-m", "acme_aliyun", "-c", str(ini)] + [str(a) for a in args]
    env = dict(env if env is not None else sts_env())
    env["PYTHONPATH"] = (os.path.join(ROOT, "tests", "fastretry") + os.pathsep if fast_retry else "") + ROOT
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def run_demo_tool(ini: str, *args: str, env: Optional[Dict[str, str]] = None, timeout: float = 180,
                  fast_retry: bool = False) -> "subprocess.CompletedProcess[str]":
    """run_tool with the demo's AccessKey (demo.tool_env()) unless env is given."""
    return run_tool(ini, *args, env=env if env is not None else demo.tool_env(), timeout=timeout,
                    fast_retry=fast_retry)


# --- private keys -------------------------------------------------------------------------------

_PEM = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----(.*?)-----END \1PRIVATE KEY-----", re.S)


def is_key_file(path):
    """The files that ARE private keys (and may hold one): excluded from the state-file scan."""
    name = os.path.basename(path)
    return name in ("privkey.pem", "pending-key.pem") or name.startswith("account.key") or name.endswith(".key")


def key_files(state_dir=None, account_key=None):
    """Every file holding a PEM private key under state_dir, plus the account key.

    account_key defaults to `account.key` beside the state folder (the demo/test layout).
    """
    found = []
    if state_dir and os.path.isdir(state_dir):
        for folder, _, files in os.walk(state_dir):
            for f in files:
                path = os.path.join(folder, f)
                if os.path.islink(path):
                    continue
                with open(path, "rb") as fh:
                    if _PEM.search(fh.read()):
                        found.append(path)
    if account_key is None and state_dir:
        account_key = os.path.join(os.path.dirname(os.path.abspath(str(state_dir))), "account.key")
    if account_key and os.path.exists(account_key):
        found.append(str(account_key))
    return found


def key_fragments(paths):
    """{fragment: label} for the base64 body lines of every private key in paths (raw and URL-encoded)."""
    frags = {}
    for path in paths:
        with open(path, "rb") as fh:
            data = fh.read()
        for n, m in enumerate(_PEM.finditer(data)):
            for i, line in enumerate(m.group(2).decode("ascii").split()):
                if len(line) < MIN_KEY_LINE:
                    continue
                label = "private key %s #%d, body line %d" % (path, n, i + 1)
                frags[line] = label
                frags.setdefault(quote(line, safe=""), label + " (URL-encoded)")
            frags.update(middle_fragments(m.group(2).decode("ascii"), "private key %s #%d" % (path, n)))
    return frags


def middle_fragments(body, label):
    """{fragment: label}: 24 base64 characters from the middle of a key body (lines joined), raw and
    URL-encoded: what an error message that echoes part of a key would carry."""
    joined = "".join(body.split())
    mid = len(joined) // 2
    frag = joined[mid - 12:mid + 12]
    return {frag: label + ", 24 characters from the middle", quote(frag, safe=""): label + ", middle (URL-encoded)"}


def secret_fragments(extra=()):
    """{fragment: label} for the canaries: the whole value, and the head and tail of its random part."""
    frags = {}
    values = list(CANARIES.items()) + [("extra secret %d" % i, v) for i, v in enumerate(extra)]
    for label, value in values:
        frags[value] = label
        core = _PREFIX.sub("", value)
        if len(core) >= 24:
            for part, what in ((core[:12], "head"), (core[-12:], "tail")):
                if not any(part in other for _, other in values if other != value):   # unique to this one
                    frags.setdefault(part, "%s (%s)" % (label, what))
    return frags


def find_secrets(data, state_dir=None, account_key=None, extra=(), keys=None):
    """[(label, context)] for every canary, key fragment or PEM key header found in data."""
    if isinstance(data, (list, tuple)):
        hits = []
        for item in data:
            hits += find_secrets(item, state_dir, account_key, extra, keys)
        return hits
    if data is None:
        return []
    text = data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else str(data)
    frags = secret_fragments(extra)
    frags.update(key_fragments(keys if keys is not None else key_files(state_dir, account_key)))
    hits = []
    for frag, label in frags.items():
        at = text.find(frag)
        if at >= 0:
            hits.append((label, text[max(0, at - 80):at + len(frag) + 40]))
    m = _KEY_HEADER.search(text)
    if m:
        hits.append(("a PEM private key header", text[max(0, m.start() - 80):m.end() + 80]))
    return hits


def assert_no_secrets(data, state_dir=None, where="output", account_key=None, extra=(), keys=None):
    """Fail naming each canary / private key (line) found in data: str, bytes, or a list of them.

    Checks the canaries (AccessKeySecret, STS token, the rejected secret, plus `extra`) and the
    body lines of every private key under state_dir and of the account key.
    """
    hits = find_secrets(data, state_dir, account_key, extra, keys)
    assert not hits, "secret leaked in %s:\n%s" % (where, "\n".join("  %s: ...%r..." % h for h in hits))


def state_files(state_dir):
    """Every regular file under state_dir except the private-key files and the lock."""
    out = []
    for folder, _, files in os.walk(state_dir):
        for f in files:
            path = os.path.join(folder, f)
            if os.path.islink(path) or is_key_file(path) or f == ".lock":
                continue
            out.append(path)
    return out


def assert_state_clean(state_dir, account_key=None, extra=()):
    """No secret in any file of the state folder other than the keys themselves; returns the files checked."""
    keys = key_files(state_dir, account_key)
    checked = []
    for path in state_files(state_dir):
        with open(path, "rb") as fh:
            assert_no_secrets(fh.read(), where=path, extra=extra, keys=keys)
        checked.append(path)
    return checked


def assert_private_modes(state_dir, account_key=None):
    """The state folder and every folder in it 0700; every private-key file 0600 (symlinks followed)."""
    state_dir = str(state_dir)
    mode = stat.S_IMODE(os.stat(state_dir).st_mode)
    assert mode == 0o700, "state folder %s is %o, not 700" % (state_dir, mode)
    for folder, dirs, files in os.walk(state_dir):
        for d in dirs:
            p = os.path.join(folder, d)
            m = stat.S_IMODE(os.stat(p).st_mode)
            assert m == 0o700, "folder %s is %o, not 700" % (p, m)
    for path in key_files(state_dir, account_key):
        m = stat.S_IMODE(os.stat(path).st_mode)
        assert m == 0o600, "private key %s is %o, not 600" % (path, m)


def notify_section(url, on_success=False):
    return "\n[notify]\nWebhook = %s\nFormat = generic\n%s" % (url, "OnSuccess = yes\n" if on_success else "")
