"""Item 15 of issue 12: under umask 000 every folder the tool creates still gets an explicit mode."""

import os
import stat

from tests.canary import run_tool
from tests.conftest import write_ini


def test_folders_created_under_umask_000_are_never_world_writable(tmp_path, pebble):
    ini = write_ini(tmp_path, pebble, """
        [cert:u]
        Domains = umask.example.test
        Challenge = http-01
        HTTPListen = 127.0.0.1:%d
        KeyFile = keys/u.key
        ChainFile = public/u.pem
        """ % pebble.http_port)
    text = open(ini).read().replace("AccountKeyFile = account.key", "AccountKeyFile = acct/deep/account.key")
    text = text.replace("StateDir = state", "StateDir = var/lib/state")
    open(ini, "w").write(text)
    (tmp_path / "keys").mkdir()          # KeyFile/ChainFile folders must exist already (checked at load)
    (tmp_path / "public").mkdir()
    before = {os.path.join(r, d) for r, ds, _ in os.walk(str(tmp_path)) for d in ds}
    r = run_tool(ini, "run", env=dict(os.environ), umask=0)
    assert r.returncode == 0, r.stdout + r.stderr
    created = sorted({os.path.join(r_, d) for r_, ds, _ in os.walk(str(tmp_path)) for d in ds} - before)
    assert created
    modes = {os.path.relpath(p, str(tmp_path)): stat.S_IMODE(os.lstat(p).st_mode) for p in created
             if not os.path.islink(p)}
    wrong = {p: oct(m) for p, m in modes.items() if m & 0o022}
    assert not wrong, "world/group-writable folders: %s" % wrong
    for p in ("acct", "acct/deep", "var", "var/lib", "var/lib/state"):
        assert modes[p] == 0o700, (p, oct(modes[p]))
    assert stat.S_IMODE(os.stat(str(tmp_path / "keys/u.key")).st_mode) == 0o600
