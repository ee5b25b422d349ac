"""The state folder: layout, modes, atomic pair switch under crashes, lock, journal."""

import contextlib
import datetime
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from acme_aliyun import pki, store as store_mod
from acme_aliyun.challenges.base import Challenge
from acme_aliyun.errors import LockHeld, ToolError, UsageError
from acme_aliyun.store import Store, write_copy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_pair(cn="example.test", key_type="ec-256"):
    """(key_pem bytes, cert_pem, chain_pem): a self-signed certificate, which is also its own chain."""
    key = pki.generate_key(key_type)
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(Encoding.PEM).decode()
    return pki.key_to_pem(key), pem, pem


@pytest.fixture(scope="module")
def pairs():
    return [make_pair("a%d.example.test" % i) for i in range(3)]


def mode(path):
    return os.lstat(path).st_mode & 0o777


def assert_private(state_dir):
    """Every folder 0700, every key file 0600, nothing writable by others."""
    assert mode(state_dir) == 0o700
    for root, dirs, files in os.walk(state_dir):
        for d in dirs:
            if not os.path.islink(os.path.join(root, d)):
                assert mode(os.path.join(root, d)) == 0o700, os.path.join(root, d)
        for f in files:
            path = os.path.join(root, f)
            if os.path.islink(path):
                continue
            assert mode(path) & 0o022 == 0, path
            if "key" in f:
                assert mode(path) == 0o600, path


def test_layout_modes_and_round_trip(tmp_path, pairs):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    st = Store(str(state))
    assert mode(st.state_dir) == 0o700
    assert st.load("site") is None and st.current_key_pem("site") is None and st.names() == []

    key, cert, chain = pairs[0]
    saved = st.save("site", key, cert, chain, {"order_url": "https://ca/order/1", "ari_cert_id": None})
    assert_private(st.state_dir)
    cdir = st.cert_dir("site")
    assert saved.path == cdir
    assert os.readlink(os.path.join(cdir, "current")) == os.path.join("versions", saved.version)
    for f in store_mod.PAIR_FILES:
        assert os.readlink(os.path.join(cdir, f)) == os.path.join("current", f)
    with open(os.path.join(cdir, "fullchain.pem")) as fh:
        assert fh.read() == cert + chain
    assert mode(os.path.join(cdir, "versions", saved.version, "privkey.pem")) == 0o600

    loaded = st.load("site")
    assert (loaded.key_pem, loaded.cert_pem, loaded.chain_pem, loaded.fullchain_pem) == (key, cert, chain, cert + chain)
    assert loaded.bundle.key_matches() and loaded.bundle.names == ["a0.example.test"]
    assert loaded.meta["order_url"] == "https://ca/order/1" and "ari_cert_id" not in loaded.meta
    assert loaded.meta["names"] == ["a0.example.test"] and loaded.meta["serial"] == loaded.bundle.serial
    assert loaded.meta["not_after"].endswith("Z") and loaded.meta["issuer"] == "a0.example.test"
    assert st.current_key_pem("site") == key
    assert st.names() == ["site"]


def test_keeps_previous_version_and_prunes_older(tmp_path, pairs):
    st = Store(str(tmp_path))
    versions = [st.save("site", *pairs[i % 3], {}).version for i in range(4)]
    left = sorted(os.listdir(os.path.join(st.cert_dir("site"), "versions")))
    assert left == sorted(versions[-2:])
    assert st.load("site").key_pem == pairs[0][0]


def test_meta_before_and_after_save(tmp_path, pairs):
    st = Store(str(tmp_path))
    assert st.read_meta("site") == {}
    st.update_meta("site", order_url="https://ca/order/9", failures=2)
    assert st.read_meta("site") == {"order_url": "https://ca/order/9", "failures": 2}
    assert_private(st.state_dir)
    st.save("site", *pairs[0], {"replaces": "x.y"})
    meta_link = os.path.join(st.cert_dir("site"), "meta.json")
    assert os.path.islink(meta_link)
    st.update_meta("site", ari_start="2025-01-02T04:00:00Z", replaces=None)
    meta = st.read_meta("site")
    assert meta["ari_start"] == "2025-01-02T04:00:00Z" and "replaces" not in meta and "order_url" not in meta
    assert os.path.islink(meta_link)
    with open(meta_link) as fh:
        assert json.load(fh) == meta
    assert st.load("site").meta == meta


def test_refuses_mismatched_pair_and_detects_corruption(tmp_path, pairs, caplog):
    """A corrupt current version is never used: load() falls back to the previous one, or gives None
    (the certificate is issued again), with a warning (issue 12, item 4)."""
    st = Store(str(tmp_path))
    with pytest.raises(ToolError, match="do not match"):
        st.save("site", pairs[0][0], pairs[1][1], pairs[1][2], {})
    assert st.load("site") is None
    first = st.save("site", *pairs[0], {})
    saved = st.save("site", *pairs[1], {})
    with open(os.path.join(st.cert_dir("site"), "versions", saved.version, "privkey.pem"), "wb") as fh:
        fh.write(pairs[0][0])
    assert st.load("site").version == first.version
    assert "do not match" in caplog.text and "previous version" in caplog.text
    os.unlink(os.path.join(st.cert_dir("site"), "versions", first.version, "chain.pem"))
    assert st.load("site") is None
    assert "issued again" in caplog.text


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", ".hidden", "a b", "x" * 201, "é"])
def test_name_validation(tmp_path, bad):
    with pytest.raises(UsageError):
        Store(str(tmp_path)).cert_dir(bad)


def test_write_copy(tmp_path):
    key_path = tmp_path / "new" / "dir" / "site.key"
    write_copy(str(key_path), b"secret", private=True)
    chain_path = tmp_path / "out" / "chain.pem"
    write_copy(str(chain_path), "chain", private=False)
    assert key_path.read_bytes() == b"secret" and mode(key_path) == 0o600
    assert chain_path.read_text() == "chain" and mode(chain_path) == 0o644
    with pytest.raises(ToolError, match="cannot write"):
        write_copy(str(chain_path / "below-a-file"), "x", private=False)


class Crash(Exception):
    pass


def _crash_at(monkeypatch, k):
    """Make the k-th call to any file-system step save() uses raise Crash."""
    calls = [0]

    def wrap(fn):
        def step(*args, **kwargs):
            calls[0] += 1
            if calls[0] == k:
                raise Crash("step %d" % k)
            return fn(*args, **kwargs)
        return step

    for owner, attr in ((os, "replace"), (os, "symlink"), (os, "unlink"), (os, "mkdir"),
                        (store_mod, "atomic_write"), (shutil, "rmtree")):
        monkeypatch.setattr(owner, attr, wrap(getattr(owner, attr)))
    return calls


def test_crash_at_every_step_of_save_leaves_old_or_new_pair(tmp_path, pairs):
    old, new, later = pairs
    seen = set()
    for k in range(1, 200):
        st = Store(str(tmp_path / ("k%d" % k)))
        st.save("site", *old, {})
        with pytest.MonkeyPatch.context() as mp:
            _crash_at(mp, k)
            try:
                st.save("site", *new, {})
            except Crash:
                crashed = True
            else:
                crashed = False
        loaded = st.load("site")
        assert loaded.bundle.key_matches()
        assert (loaded.key_pem, loaded.cert_pem) in ((old[0], old[1]), (new[0], new[1])), k
        seen.add(loaded.key_pem)
        # the next run repairs whatever the crash left behind
        st.save("site", *later, {})
        assert st.load("site").key_pem == later[0]
        assert len(os.listdir(os.path.join(st.cert_dir("site"), "versions"))) == 2
        assert_private(st.state_dir)
        if not crashed:
            break
    assert k > 10, "save() should take more than 10 file-system steps"
    assert seen == {old[0], new[0]}


CHILD = r"""
import sys
from acme_aliyun.store import Store
st = Store(sys.argv[1])
pairs = [open(p, "rb").read().split(b"\0") for p in sys.argv[2:4]]
i = 0
while True:
    key, cert, chain = pairs[i % 2]
    st.save("site", key, cert.decode(), chain.decode(), {"i": i})
    if i == 0:
        print("ready", flush=True)
    i += 1
"""


def _spawn(args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.Popen([sys.executable, "-c"] + args, stdout=subprocess.PIPE, env=env, cwd=REPO)


def test_kill_9_during_saves_never_leaves_a_mix(tmp_path, pairs):
    files = []
    for i in range(2):
        path = tmp_path / ("pair%d" % i)
        path.write_bytes(b"\0".join([pairs[i][0], pairs[i][1].encode(), pairs[i][2].encode()]))
        files.append(str(path))
    state = str(tmp_path / "state")
    st = Store(state)
    rng = random.Random(20240501)
    reads = 0
    for _ in range(10):
        child = _spawn([CHILD, state] + files)
        try:
            assert child.stdout.readline() == b"ready\n"
            deadline = time.monotonic() + rng.uniform(0.02, 0.25)
            while time.monotonic() < deadline:    # read while the child switches pairs
                assert st.load("site").bundle.key_matches()
                reads += 1
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
        loaded = st.load("site")
        assert loaded.bundle.key_matches()
        assert loaded.key_pem in (pairs[0][0], pairs[1][0])
    assert reads > 10
    assert_private(state)


LOCK_HOLDER = r"""
import sys, time
from acme_aliyun.store import Store
with Store(sys.argv[1]).lock(wait=False):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_lock_across_processes_and_released_on_kill_9(tmp_path):
    st = Store(str(tmp_path))
    holder = _spawn([LOCK_HOLDER, str(tmp_path)])
    try:
        assert holder.stdout.readline() == b"locked\n"
        with pytest.raises(LockHeld, match="pid %d" % holder.pid):
            with st.lock(wait=False):
                pass
        started = time.monotonic()
        with pytest.raises(LockHeld):
            with st.lock(timeout=0.3):
                pass
        assert time.monotonic() - started >= 0.3
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    with st.lock(wait=False):
        # the same process cannot take it twice either: flock is per open file
        with pytest.raises(LockHeld):
            with st.lock(wait=False):
                pass
    with st.lock(timeout=1):
        pass


def test_challenge_journal_round_trip(tmp_path):
    st = Store(str(tmp_path))
    assert st.pending_challenges("site") == []
    http = [Challenge("a.example.test", "http-01", "tok1", "tok1.thumb")]
    dns = [Challenge("example.test", "dns-01", "tok2", "tok2.thumb"),
           Challenge("example.test", "dns-01", "tok3", "tok3.thumb")]
    st.journal_challenges("site", "http-01:webroot", http)
    st.journal_challenges("site", "dns-01:hook", dns[:1])
    st.journal_challenges("site", "dns-01:hook", dns)       # a rerun journals again: no duplicates
    assert_private(st.state_dir)
    assert Store(str(tmp_path)).pending_challenges("site") == [("http-01:webroot", http), ("dns-01:hook", dns)]
    st.clear_challenges("site")
    st.clear_challenges("site")
    assert st.pending_challenges("site") == []


def test_pending_key_reused_after_crash_and_deleted_by_save(tmp_path, pairs):
    st = Store(str(tmp_path))
    key = st.pending_key("site", "ec-256")
    path = os.path.join(st.cert_dir("site"), "pending-key.pem")
    assert mode(path) == 0o600
    assert_private(st.state_dir)
    assert Store(str(tmp_path)).pending_key("site", "ec-256") == key      # the rerun after a crash
    other = st.pending_key("site", "ec-384")                             # configuration changed
    assert other != key and pki.key_type_of(pki.parse_private_key(other)) == "ec-384"
    st.save("site", *pairs[0], {})
    assert not os.path.exists(path)
    assert st.pending_key("site", "ec-384") != other


def test_file_system_errors_are_one_line_tool_errors(tmp_path, pairs):
    (tmp_path / "file").write_text("")
    with pytest.raises(ToolError, match="Not a directory"):
        Store(str(tmp_path / "file" / "state"))
    st = Store(str(tmp_path / "state"))
    (tmp_path / "state" / "certs").write_text("not a folder")
    with pytest.raises(ToolError, match="state folder .*certs"):
        st.save("site", *pairs[0], {})


# --- bookkeeping files beside the pairs: account URLs, account standing, failed attempts -----------

def test_account_urls_per_ca_and_key_round_trip(tmp_path):
    state = tmp_path / "state"
    st = Store(str(state))
    ca1, ca2 = "https://ca.test/dir", "https://other.test/dir"
    assert st.account_url(ca1, "thumb1") is None
    st.remember_account(ca1, "thumb1", "https://ca.test/acct/1")
    st.remember_account(ca2, "thumb1", "https://other.test/acct/9")
    assert mode(state / "accounts.json") == 0o600 and mode(state) == 0o700
    again = Store(str(state))
    assert again.account_url(ca1, "thumb1") == "https://ca.test/acct/1"
    assert again.account_url(ca2, "thumb1") == "https://other.test/acct/9"
    assert again.account_url(ca1, "thumb2") is None
    os.chmod(state / "accounts.json", 0o644)
    again.forget_account(ca1, "thumb1")
    assert mode(state / "accounts.json") == 0o600             # rewritten private
    before = (state / "accounts.json").stat().st_ino
    again.forget_account(ca1, "thumb1")                       # nothing to forget: the file is not rewritten
    assert (state / "accounts.json").stat().st_ino == before
    assert Store(str(state)).account_url(ca1, "thumb1") is None
    assert Store(str(state)).account_url(ca2, "thumb1") == "https://other.test/acct/9"


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"https://ca.test/dir#t": ""}',
                                     '{"https://ca.test/dir#t": 5}'])
def test_an_unusable_account_cache_means_no_known_url(tmp_path, content):
    (tmp_path / "accounts.json").write_text(content)
    st = Store(str(tmp_path))
    assert st.account_url("https://ca.test/dir", "t") is None
    st.remember_account("https://ca.test/dir", "u", "https://ca.test/acct/2")
    assert st.account_url("https://ca.test/dir", "u") == "https://ca.test/acct/2"


def test_account_state_per_ca_and_cleared(tmp_path):
    st = Store(str(tmp_path))
    path = tmp_path / "account-state.json"
    ca1, ca2 = "https://ca.test/dir", "https://other.test/dir"
    assert st.read_account_state(ca1) == {}
    st.write_account_state(ca1, None)                       # nothing recorded: no file made
    assert not path.exists()
    st.write_account_state(ca1, {"deactivated": "2025-01-01T00:00:00Z"})
    st.write_account_state(ca2, {"deactivated": "2025-02-01T00:00:00Z"})
    assert mode(path) == 0o600
    assert Store(str(tmp_path)).read_account_state(ca1) == {"deactivated": "2025-01-01T00:00:00Z"}
    st.write_account_state(ca1, None)
    assert st.read_account_state(ca1) == {}
    assert json.loads(path.read_text()) == {ca2: {"deactivated": "2025-02-01T00:00:00Z"}}
    for broken in ("{", "[]", '{"%s": 3}' % ca2):
        path.write_text(broken)
        assert st.read_account_state(ca2) == {}
    path.write_text("[]")
    st.write_account_state(ca1, {"x": 1})                   # a broken file is replaced, not merged
    assert json.loads(path.read_text()) == {ca1: {"x": 1}}


def test_failed_attempts_round_trip_and_clear(tmp_path):
    st = Store(str(tmp_path))
    assert st.read_attempts("site") == {}
    st.write_attempts("site", {"failures": 2, "last_error": "rateLimited"})
    path = os.path.join(st.cert_dir("site"), "attempts.json")
    assert mode(path) == 0o600
    assert Store(str(tmp_path)).read_attempts("site") == {"failures": 2, "last_error": "rateLimited"}
    st.write_attempts("site", None)
    st.write_attempts("site", None)
    assert not os.path.exists(path) and st.read_attempts("site") == {}
    for broken in ("{", "[1]"):
        with open(path, "w") as fh:
            fh.write(broken)
        assert st.read_attempts("site") == {}


# --- messages users see, and the fall-back between versions ----------------------------------------

def test_a_bad_name_is_refused_with_the_rule(tmp_path):
    with pytest.raises(UsageError) as info:
        Store(str(tmp_path)).cert_dir("a b")
    assert str(info.value) == ("invalid certificate name 'a b': use letters, digits, '.', '_' and '-' only "
                               "(at most 200, not starting with '.')")


def test_meta_times_are_utc_whatever_the_local_zone(tmp_path, pairs, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        saved = Store(str(tmp_path)).save("site", *pairs[0], {})
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    expected = saved.bundle.not_after.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert saved.meta["not_after"] == expected
    assert Store(str(tmp_path)).load("site").meta["not_after"] == expected


def test_write_copy_folder_modes_and_message(tmp_path):
    write_copy(str(tmp_path / "k" / "d" / "site.key"), b"secret", private=True)
    write_copy(str(tmp_path / "c" / "d" / "chain.pem"), "chain", private=False)
    assert mode(tmp_path / "k") == 0o700 and mode(tmp_path / "k" / "d") == 0o700
    assert mode(tmp_path / "c") == 0o755 and mode(tmp_path / "c" / "d") == 0o755
    target = tmp_path / "c" / "d" / "chain.pem" / "below"
    with pytest.raises(ToolError) as info:
        write_copy(str(target), "x", private=False)
    assert str(info.value) == "cannot write %s: Not a directory" % target


def test_save_tightens_the_certs_folder_and_adds_nothing_else(tmp_path, pairs, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    state = tmp_path / "state"
    (state / "certs").mkdir(parents=True, mode=0o755)
    os.chmod(state / "certs", 0o755)
    st = Store(str(state))
    st.save("site", *pairs[0], {})
    st.journal_challenges("site", "http-01:webroot", [Challenge("a.example.test", "http-01", "t", "t.k")])
    assert mode(state / "certs") == 0o700
    assert sorted(os.listdir(state)) == ["certs"]
    assert "challenges.json" in os.listdir(st.cert_dir("site"))
    assert os.listdir(cwd) == []


def test_save_works_from_a_working_directory_on_another_file_system(tmp_path, pairs, monkeypatch):
    if os.stat("/dev/shm").st_dev == os.stat(str(tmp_path)).st_dev:
        pytest.skip("/dev/shm is on the same file system as the test folder")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as cwd:
        monkeypatch.chdir(cwd)
        st = Store(str(tmp_path))
        st.save("site", *pairs[0], {})
        assert st.load("site").key_pem == pairs[0][0]


def test_a_stray_file_among_the_versions_does_not_stop_a_save(tmp_path, pairs):
    st = Store(str(tmp_path))
    st.save("site", *pairs[0], {})
    stray = os.path.join(st.cert_dir("site"), "versions", "stray-file")
    with open(stray, "w") as fh:
        fh.write("x")
    st.save("site", *pairs[1], {})
    assert st.load("site").key_pem == pairs[1][0]


def _version_dir(st, version):
    return os.path.join(st.cert_dir("site"), "versions", version)


def _mismatch(st, version, other_key):
    with open(os.path.join(_version_dir(st, version), "privkey.pem"), "wb") as fh:
        fh.write(other_key)


def test_fall_back_takes_the_newest_usable_version_and_says_which(tmp_path, pairs, caplog):
    st = Store(str(tmp_path / "a"))
    va = st.save("site", *pairs[0], {}).version
    vb = st.save("site", *pairs[1], {}).version
    other = Store(str(tmp_path / "b"))
    oldest = "19990101T000000Z-00000000"
    shutil.copytree(_version_dir(other, other.save("site", *pairs[2], {}).version), _version_dir(st, oldest))
    _mismatch(st, vb, pairs[0][0])
    loaded = st.load("site")
    assert (loaded.version, loaded.key_pem, loaded.name, loaded.path) == (va, pairs[0][0], "site", st.cert_dir("site"))
    why = "stored certificate site (%s): private key and certificate do not match" % _version_dir(st, vb)
    assert caplog.messages[-1] == "%s; using the previous version %s" % (why, va)
    _mismatch(st, va, pairs[1][0])
    assert st.load("site").key_pem == pairs[2][0]          # past a second unusable one, to the oldest
    _mismatch(st, oldest, pairs[1][0])
    shutil.copytree(_version_dir(other, os.listdir(os.path.join(other.cert_dir("site"), "versions"))[0]),
                    _version_dir(st, ".partial"))         # a crash leftover: never used
    caplog.clear()
    assert st.load("site") is None
    assert caplog.messages[-1] == "%s, and no earlier version is usable: the certificate will be issued again" % why


def test_each_kind_of_damage_is_named(tmp_path, pairs, caplog):
    st = Store(str(tmp_path))
    st.save("site", *pairs[0], {})
    v = st.save("site", *pairs[1], {}).version
    what = "stored certificate site (%s)" % _version_dir(st, v)
    key_path = os.path.join(_version_dir(st, v), "privkey.pem")
    with open(key_path, "rb") as fh:
        key = fh.read()
    with open(key_path, "ab") as fh:
        fh.write("trailing text after the key: \u00e9\n".encode("utf-8"))
    assert st.load("site").version != v
    assert caplog.messages[-1].startswith("%s: unreadable key or certificate: 'ascii' codec can't encode" % what)
    with open(key_path, "wb") as fh:
        fh.write(key)
    assert st.load("site").version == v
    with open(os.path.join(_version_dir(st, v), "meta.json"), "w") as fh:
        fh.write("[1]")
    assert st.load("site").meta == {}
    with open(os.path.join(_version_dir(st, v), "meta.json"), "w") as fh:
        fh.write("{")
    assert st.load("site").meta == {}
    assert caplog.messages[-1] == ("%s: meta.json is corrupt (Expecting property name enclosed in double quotes: "
                                   "line 1 column 2 (char 1)); ignoring it" % what)
    with open(os.path.join(_version_dir(st, v), "fullchain.pem"), "a") as fh:
        fh.write("\n")
    assert st.load("site").version != v
    assert caplog.messages[-1].startswith("%s: fullchain.pem is not cert.pem + chain.pem; " % what)
    with open(os.path.join(_version_dir(st, v), "chain.pem"), "ab") as fh:
        fh.write(b"\xe9")
    st.load("site")
    assert caplog.messages[-1].startswith("%s is corrupt: 'ascii' codec can't decode byte 0xe9" % what)
    with open(os.path.join(_version_dir(st, v), "chain.pem"), "w") as fh:
        fh.write(pairs[1][2])
    with open(os.path.join(_version_dir(st, v), "fullchain.pem"), "w") as fh:
        fh.write("not a certificate")
    st.load("site")
    assert caplog.messages[-1].startswith("%s: unreadable key or certificate: " % what)


def test_an_unreadable_journal_is_ignored_with_a_warning(tmp_path, caplog):
    st = Store(str(tmp_path))
    st.journal_challenges("site", "dns-01:hook", [Challenge("example.test", "dns-01", "t", "t.k")])
    path = os.path.join(st.cert_dir("site"), "challenges.json")
    with open(path, "w") as fh:
        fh.write('{"runs": [{"solver": 1}]}')
    assert st.pending_challenges("site") == []
    assert caplog.messages[-1] == "ignoring unreadable challenge journal %s: 'challenges'" % path


# --- the lock: who holds it, how long we wait, when it looks stuck ------------------------------

@contextlib.contextmanager
def _held_with(state, content):
    """Hold <state>/.lock through another open file (as another process would), with this content."""
    fd = os.open(os.path.join(str(state), ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, content, 0)
        yield fd
    finally:
        os.close(fd)


def _refusal(st, **kwargs):
    with pytest.raises(LockHeld) as info:
        with st.lock(**kwargs):
            pass
    return info.value


def test_the_lock_names_its_holder_in_every_form(tmp_path):
    st = Store(str(tmp_path))
    started = int(time.time())
    hhmm = time.strftime("%H:%M", time.localtime(started))
    for content, holder in ((b"%d\n%d\n" % (4242, started), " (pid 4242, started %s)" % hhmm),
                            (b"4242\n", " (pid 4242)"), (b"4242\nlater\n", " (pid 4242)"),
                            (b"", ""), (b"x\n1\n", "")):
        with _held_with(tmp_path, content):
            begun = time.monotonic()
            held = _refusal(st, wait=False)
            assert time.monotonic() - begun < 0.5
        assert str(held) == "another run%s holds the lock on %s" % (holder, tmp_path), content
        assert held.stale is False
    assert mode(tmp_path / ".lock") == 0o600


def test_a_lock_held_too_long_is_called_stale(tmp_path, caplog):
    st = Store(str(tmp_path))
    with _held_with(tmp_path, b"77\n"):
        since = time.time() - store_mod.LOCK_STALE_AFTER - 120
        os.utime(tmp_path / ".lock", (since, since))
        held = _refusal(st, timeout=0.1)
    day = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(since))
    stale = "held since %s, longer than a run can take: is that run hanging?" % day
    assert str(held) == "another run (pid 77) holds the lock on %s (waited 0.1s); %s" % (tmp_path, stale)
    assert held.stale is True
    with _held_with(tmp_path, b"77\n") as fd:
        os.utime(tmp_path / ".lock", (since, since))
        threading.Timer(0.3, lambda: fcntl.flock(fd, fcntl.LOCK_UN)).start()
        with st.lock():
            pass
    assert "waiting for the lock on %s: %s" % (tmp_path, stale) in caplog.messages


def test_waiting_for_the_lock_reports_progress_then_takes_it(tmp_path):
    st = Store(str(tmp_path))
    calls = []
    with _held_with(tmp_path, b"%d\n%d\n" % (99, 0)) as fd:
        threading.Timer(0.3, lambda: fcntl.flock(fd, fcntl.LOCK_UN)).start()
        with st.lock(on_wait=lambda *a: calls.append(a)):
            with open(tmp_path / ".lock") as fh:
                assert fh.read().split()[0] == str(os.getpid())
    started = time.strftime("%H:%M", time.localtime(0))
    assert calls == [("waiting for the lock held by pid 99, started %s" % started, None)]
    with _held_with(tmp_path, b""):
        calls.clear()
        _refusal(st, timeout=0.1, on_wait=lambda *a: calls.append(a))
    assert calls == [("waiting for the lock held by another run", 0.1)]
    calls.clear()
    with st.lock(on_wait=lambda *a: calls.append(a)):       # free: no progress report
        pass
    assert calls == []


def test_a_lock_file_that_cannot_be_opened_is_one_line(tmp_path, monkeypatch):
    (tmp_path / ".lock").mkdir()
    st = Store(str(tmp_path))
    held = pytest.raises(ToolError, match="^cannot open the lock file %s/.lock: Is a directory$" % tmp_path)
    with held:
        with st.lock():
            pass
    os.rmdir(tmp_path / ".lock")

    def refuse(path, *args):
        raise PermissionError(13, "Permission denied", path)
    monkeypatch.setattr(store_mod.os, "open", refuse)
    with pytest.raises(ToolError) as info:
        with st.lock():
            pass
    assert str(info.value).startswith("cannot open the lock file: cannot write %s/.lock: " % tmp_path)


def test_the_lock_file_is_private_and_a_refusal_comes_at_once_or_at_the_timeout(tmp_path):
    old_umask = os.umask(0o022)
    try:
        st = Store(str(tmp_path))
        with st.lock():
            pass
    finally:
        os.umask(old_umask)
    assert mode(tmp_path / ".lock") == 0o600
    with _held_with(tmp_path, b"5\n"):
        for kwargs, at_least in (({"wait": False, "timeout": 5}, 0), ({"timeout": 0.2}, 0.2)):
            begun = time.monotonic()
            _refusal(st, **kwargs)
            assert at_least <= time.monotonic() - begun < at_least + 0.5, kwargs
