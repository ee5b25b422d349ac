"""Item 6 of issue 12: deploy/install-ecs.sh never lets the service user own what root sources or reads.

The script needs root, useradd and pip, so it is not run whole: its folder and configuration
sections are run in a sandbox where install/chown/chmod are shell functions recording what they
would do, and the admin wrapper it writes is run with a fake runuser.
"""

import os
import re
import subprocess

from tests.test_deploy_assets import INSTALL, read

SHIMS = r'''
record() { printf '%s %s %s\n' "$1" "$2" "$3" >> "$LEDGER"; }
install() {
    local dir=no mode="" owner="" group="" args=()
    while [ $# -gt 0 ]; do
        case "$1" in
            -d) dir=yes ;;
            -m) mode="$2"; shift ;;
            -o) owner="$2"; shift ;;
            -g) group="$2"; shift ;;
            *) args+=("$1") ;;
        esac
        shift
    done
    local targets=("${args[@]}")
    [ "$dir" = yes ] || targets=("${args[-1]}")
    for t in "${targets[@]}"; do
        [ "$dir" = yes ] && mkdir -p "$t"
        record "$t" mode "${mode:-0755}"; record "$t" owner "${owner:-root}"; record "$t" group "${group:-root}"
    done
}
chown() { local r=""; [ "$1" = -R ] && { r=yes; shift; }; local og="$1"; shift
          for t in "$@"; do record "$t" owner "${og%%:*}"; record "$t" group "${og#*:}"; done; }
chmod() { local m="$1"; shift; for t in "$@"; do record "$t" mode "$m"; done; }
'''


def _section(text, start, end):
    return text[text.index(start):text.index(end)]


def _ownership(tmp_path):
    text = read(INSTALL)
    conf, state, prefix = tmp_path / "etc", tmp_path / "var", tmp_path / "opt"
    conf.mkdir()
    (conf / "acme.ini").write_text("[acme]\n")
    (conf / "acme-aliyun.env").write_text("X=1\n")
    body = (_section(text, 'install -d -m 0755 "$PREFIX"', "# --- the virtualenv")
            + _section(text, "# --- configuration", "# --- schedule"))
    script = "set -euo pipefail\n%s\nNAME=acme-aliyun CONF_DIR=%s STATE_DIR=%s PREFIX=%s here=%s\n%s" % (
        SHIMS, conf, state, prefix, os.path.dirname(INSTALL), body)
    ledger = tmp_path / "ledger"
    r = subprocess.run(["bash", "-c", script], env=dict(os.environ, LEDGER=str(ledger)), capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    final = {}
    for line in ledger.read_text().splitlines():
        path, field, value = line.split(" ")
        final.setdefault(os.path.normpath(path), {})[field] = value
    return conf, final


def test_root_owns_the_config_folder_and_files(tmp_path):
    conf, final = _ownership(tmp_path)
    assert final[str(conf)] == {"owner": "root", "group": "acme-aliyun", "mode": "0750"}, final[str(conf)]
    for name in ("acme.ini", "acme.ini.example", "acme-aliyun.env"):
        got = final[str(conf / name)]
        assert got == {"owner": "root", "group": "acme-aliyun", "mode": "0640"}, (name, got)


def _wrapper(tmp_path):
    text = read(INSTALL)
    m = re.search(r'cat > "\$WRAPPER\.tmp" <<EOF\n(.*?)\nEOF\n', text, re.S)
    conf, venv, bindir = tmp_path / "etc", tmp_path / "venv", tmp_path / "bin"
    for d in (conf, venv / "bin", bindir):
        d.mkdir(parents=True)
    render = "NAME=acme-aliyun CONF_DIR=%s VENV=%s\ncat <<EOF\n%s\nEOF\n" % (conf, venv, m.group(1))
    wrapper = tmp_path / "acme-aliyun"
    wrapper.write_text(subprocess.run(["bash", "-c", render], capture_output=True, text=True, check=True).stdout)
    wrapper.chmod(0o755)
    tool = venv / "bin" / "acme-aliyun"
    tool.write_text('#!/bin/sh\necho "sourced-as=${SOURCED_AS:-nobody}"\n')
    tool.chmod(0o755)
    runuser = bindir / "runuser"      # stands in for the switch to the service user
    runuser.write_text('#!/bin/sh\n[ "$1" = -u ] && shift 2\n[ "$1" = -- ] && shift\n'
                       'RUNUSER_ACTIVE=service-user exec "$@"\n')
    runuser.chmod(0o755)
    (conf / "acme-aliyun.env").write_text('SOURCED_AS="${RUNUSER_ACTIVE:-root}"\n')
    return wrapper, bindir


def test_the_wrapper_sources_the_env_file_as_the_service_user(tmp_path):
    wrapper, bindir = _wrapper(tmp_path)
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]))
    env.pop("RUNUSER_ACTIVE", None)
    r = subprocess.run([str(wrapper), "--version"], env=env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    if os.geteuid() == 0:
        assert r.stdout.strip() == "sourced-as=service-user", r.stdout
    else:
        assert r.stdout.strip() == "sourced-as=root", r.stdout       # not root: sourced by the user itself
