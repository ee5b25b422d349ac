"""The ECS installer's venv check and next steps, the FC build script's runtime, config and `s invoke`
line (issue 14, points 22 and 23), and the LICENSE (point 21)."""

import configparser
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALL = os.path.join(ROOT, "deploy", "install-ecs.sh")
FC = os.path.join(ROOT, "deploy", "fc")


def _read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


# --- 22: install-ecs.sh ---------------------------------------------------------------------------

def _venv_matches(venv, python):
    """Run the installer's own venv_matches function (cut out of the script) in bash."""
    text = _read(INSTALL)
    func = re.search(r"(?ms)^venv_matches\(\) \{.*?^\}$", text).group(0)
    r = subprocess.run(["bash", "-c", func + '\nvenv_matches "$1" "$2"', "_", venv, python], timeout=60)
    return r.returncode == 0


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("venv") / "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True, timeout=120)
    return path


def test_installer_keeps_a_working_venv_of_the_same_python(venv):
    assert _venv_matches(venv, sys.executable)
    assert re.search(r'(?m)^if \[ -e "\$VENV" \] && ! venv_matches "\$VENV" "\$python"; then\n.*\n    rm -rf "\$VENV"',
                     _read(INSTALL)), "the installer must remove a venv that does not match"


def test_installer_rebuilds_a_venv_of_another_python(venv, tmp_path):
    other = tmp_path / "python3"          # another Python: a different version string
    other.write_text("#!/bin/sh\nexec %s -c 'print(\"3.99.0 /opt/other\")'\n" % sys.executable)
    other.chmod(0o755)
    assert not _venv_matches(venv, str(other))
    candidates = [p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.path.exists(p)]
    for python in candidates:
        same = subprocess.run([python, "-c", "import sys; print(sys.base_prefix, sys.version)"], capture_output=True,
                              text=True).stdout == subprocess.run(
            [sys.executable, "-c", "import sys; print(sys.base_prefix, sys.version)"], capture_output=True,
            text=True).stdout
        assert _venv_matches(venv, python) == same, python


def test_installer_rebuilds_a_broken_venv(venv, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(venv, str(broken), symlinks=True)
    os.unlink(broken / "bin" / "python")
    (broken / "bin" / "python").symlink_to("/nonexistent/python3.9")      # its Python was removed
    assert not _venv_matches(str(broken), sys.executable)
    assert not _venv_matches(str(tmp_path / "missing"), sys.executable)


def test_installer_next_steps_install_the_config_privately():
    text = _read(INSTALL)
    assert "install -m 0640 -o root -g $NAME $CONF_DIR/acme.ini.example $CONF_DIR/acme.ini" in text
    assert not re.search(r"(?m)^\s+1\. cp ", text)


# --- 23: deploy/fc/build.sh -----------------------------------------------------------------------

@pytest.fixture
def fc_copy(tmp_path):
    """A copy of deploy/fc in a scratch tree, so the script's own checks run without touching the repo."""
    dst = tmp_path / "deploy" / "fc"
    shutil.copytree(FC, str(dst), ignore=shutil.ignore_patterns("acme.ini"))
    return dst


def _build(fc_copy, *args, env=None):
    full = dict(os.environ, PYTHON="/bin/false")   # stop at the interpreter check: no pip, no network
    full.pop("FC_PYTHON_VERSION", None)
    full.update(env or {})
    return subprocess.run(["bash", str(fc_copy / "build.sh")] + list(args), capture_output=True, text=True,
                          timeout=60, env=full)


def test_build_refuses_without_an_acme_ini(fc_copy):
    r = _build(fc_copy)
    assert r.returncode == 2 and "no %s" % (fc_copy / "acme.ini") in r.stderr, r.stderr
    assert "target runtime" not in r.stdout and not (fc_copy.parent.parent / "build").exists()
    r = _build(fc_copy, str(fc_copy / "nope.ini"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_build_reads_the_runtime_from_s_yaml(fc_copy):
    (fc_copy / "acme.ini").write_text("[acme]\n")
    r = _build(fc_copy)
    assert "==> target runtime python3.10 (from s.yaml)" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 2 and "is not Python 3.9 or newer" in r.stderr
    yaml = fc_copy / "s.yaml"
    yaml.write_text(yaml.read_text().replace("runtime: python3.10", "runtime: python3.12"))
    assert "==> target runtime python3.12 (from s.yaml)" in _build(fc_copy).stdout
    assert "python3.9 (from FC_PYTHON_VERSION)" in _build(fc_copy, env={"FC_PYTHON_VERSION": "3.9"}).stdout
    assert "target runtime" in _build(fc_copy, "--without-ini").stdout


def test_build_prints_the_readme_s_invoke_line():
    line = re.search(r"(s invoke -e '\{\"triggerName\".*?\}')", _read(os.path.join(ROOT, "README.md"))).group(1)
    assert line in _read(os.path.join(FC, "build.sh"))
    assert line in _read(os.path.join(FC, "s.yaml"))
    # what bash prints for that line is the README's text, quotes and backslashes included
    tail = _read(os.path.join(FC, "build.sh")).split("cat <<'EOF'\n==> done")[1].split("\nEOF")[0]
    r = subprocess.run(["bash", "-c", "cat <<'EOF'\n%s\nEOF" % tail], capture_output=True, text=True, timeout=10)
    assert line in r.stdout


# --- 21: LICENSE ------------------------------------------------------------------------------------

def test_license_matches_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    assert cfg["metadata"]["license"] == "MIT"
    text = _read(os.path.join(ROOT, "LICENSE"))
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


# --- 20: the Chinese README ---------------------------------------------------------------------

def test_chinese_readme_is_linked_and_covers_the_basics():
    text = _read(os.path.join(ROOT, "README.zh-CN.md"))
    assert "(README.zh-CN.md)" in _read(os.path.join(ROOT, "README.md"))
    for piece in ("pip install .", "make demo", "make test", "[cert:NAME]", "deploy/install-ecs.sh",
                  "deploy/fc/build.sh", "s deploy", "install -m 0640 -o root -g acme-aliyun"):
        assert piece in text, piece
    line = re.search(r"(s invoke -e '\{\"triggerName\".*?\}')", _read(os.path.join(ROOT, "README.md"))).group(1)
    assert line in text
