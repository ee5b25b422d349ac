"""Checks that KeyFile and ChainFile hold the stored pair (issue 12, item 1).

Shared by the copy tests, the kill -9 trials and the cloud fault matrix.
"""

import configparser
import os

from acme_aliyun.store import Store


def copy_paths(ini):
    """{cert name: (KeyFile path or None, ChainFile path or None)} as acme.ini names them."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(ini)
    here = os.path.dirname(os.path.abspath(ini))
    out = {}
    for section in parser.sections():
        if not section.startswith("cert:"):
            continue
        sec = parser[section]
        paths = tuple(os.path.join(here, sec[k]) if sec.get(k) else None for k in ("KeyFile", "ChainFile"))
        if any(paths):
            out[section[5:]] = paths
    return out


def add_copy_files(ini, folder="out"):
    """Give every [cert:NAME] of ini a KeyFile and a ChainFile under folder/ (rewrites ini in place)."""
    with open(ini) as fh:
        lines = fh.read().splitlines()
    out = []
    for line in lines:
        out.append(line)
        if line.strip().startswith("[cert:"):
            name = line.strip()[6:-1]
            out += ["KeyFile = %s/%s.key" % (folder, name), "ChainFile = %s/%s.chain.pem" % (folder, name)]
    with open(ini, "w") as fh:
        fh.write("\n".join(out) + "\n")
    os.makedirs(os.path.join(os.path.dirname(ini), folder), exist_ok=True)   # checked at load: must exist
    return ini


def copies_mismatch(ini, state_dir):
    """[what differs], empty when every KeyFile/ChainFile holds exactly the stored pair."""
    store = Store(state_dir)
    wrong = []
    for name, (key_file, chain_file) in copy_paths(ini).items():
        stored = store.load(name)
        if stored is None:
            wrong.append("%s: nothing stored" % name)
            continue
        for path, want in ((key_file, stored.key_pem), (chain_file, stored.fullchain_pem.encode())):
            if path is None:
                continue
            try:
                with open(path, "rb") as fh:
                    got = fh.read()
            except OSError as e:
                wrong.append("%s: %s unreadable: %s" % (name, path, e))
                continue
            if got != want:
                wrong.append("%s: %s differs from the stored pair (serial %s)" % (name, path, stored.bundle.serial))
    return wrong


def assert_copies_match(ini, state_dir, why=""):
    """KeyFile and ChainFile of every certificate are byte for byte the stored pair."""
    wrong = copies_mismatch(ini, state_dir)
    assert not wrong, "%s: %s" % (why, "; ".join(wrong))
