#!/usr/bin/env bash
# Build the Function Compute code package: dist/acme-aliyun-fc.zip holding the
# acme_aliyun package, its dependencies built for the FC runtime (Linux x86_64,
# CPython 3.10, manylinux2014 wheels for cryptography/cffi), index.py (handler
# index.handler) and the acme.ini the function reads.
#
# Usage: deploy/fc/build.sh [--without-ini] [ACME_INI]
#   ACME_INI       config to pack as acme.ini (default: deploy/fc/acme.ini). The build
#                  stops when there is none: a function without its config cannot run.
#   --without-ini  pack no acme.ini, because the function gets its config another way
#                  (ACME_ALIYUN_CONFIG_TEXT or ACME_ALIYUN_CONFIG set on the function)
# Environment:
#   PYTHON          interpreter that runs pip (default python3; any 3.9+ works,
#                   the target version is FC_PYTHON_VERSION)
#   FC_PYTHON_VERSION  default: read from the runtime in s.yaml (python3.10 -> 3.10)
#   FC_PLATFORM     manylinux2014_x86_64 (a space-separated list gives pip several --platform)
#   PIP_INDEX_URL etc. are passed through to pip (e.g. a mirror:
#                   PIP_INDEX_URL=https://mirrors.aliyun.com/pypi/simple/)
# Works on any OS: nothing is compiled locally. The Alibaba Cloud SDK packages
# are published as source only; they are pure Python, so they are first turned
# into wheels here, then everything is installed for the target platform.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
platform="${FC_PLATFORM:-manylinux2014_x86_64}"
build="$root/build/fc"
wheels="$root/build/fc-wheels"
out="$root/dist/acme-aliyun-fc.zip"
without_ini=no
if [ "${1:-}" = "--without-ini" ]; then
    without_ini=yes
    shift
fi
ini="${1:-}"
if [ -z "$ini" ] && [ "$without_ini" = no ]; then
    ini="$here/acme.ini"
    if [ ! -f "$ini" ]; then
        echo "build.sh: no $ini: copy deploy/fc/acme.ini.example there and edit it, give ACME_INI," >&2
        echo "          or use --without-ini when the function gets ACME_ALIYUN_CONFIG_TEXT" >&2
        exit 2
    fi
fi
if [ -n "$ini" ] && [ ! -f "$ini" ]; then
    echo "build.sh: $ini does not exist" >&2
    exit 2
fi
# The target Python is the runtime s.yaml deploys (runtime: python3.10 -> 3.10).
runtime="$(sed -n 's/^[[:space:]]*runtime:[[:space:]]*python\([0-9][0-9.]*\)[[:space:]]*\(#.*\)\{0,1\}$/\1/p' "$here/s.yaml" | head -n 1)"
pyver="${FC_PYTHON_VERSION:-$runtime}"
if [ -z "$pyver" ]; then
    echo "build.sh: no 'runtime: python3.X' in $here/s.yaml; set FC_PYTHON_VERSION" >&2
    exit 2
fi
if [ -n "${FC_PYTHON_VERSION:-}" ]; then from="FC_PYTHON_VERSION"; else from="s.yaml"; fi
echo "==> target runtime python$pyver (from $from)"

platform_args=()
for p in $platform; do
    platform_args+=(--platform "$p")
done

"$python" - <<'EOF' || { echo "build.sh: $python is not Python 3.9 or newer" >&2; exit 2; }
import sys
sys.exit(0 if sys.version_info >= (3, 9) else 1)
EOF

echo "==> wheels for acme-aliyun and its pure-Python dependencies ($wheels)"
rm -rf "$build" "$wheels"
mkdir -p "$build" "$wheels" "$(dirname "$out")"
"$python" -m pip wheel --quiet --wheel-dir "$wheels" "$root"

echo "==> install for CPython $pyver on $platform ($build)"
# --only-binary=:all: with --platform/--python-version: pip takes wheels only,
# from PyPI for the compiled packages and from $wheels for the rest.
"$python" -m pip install --quiet --upgrade --no-compile \
    --target "$build" \
    "${platform_args[@]}" --python-version "$pyver" --implementation cp \
    --only-binary=:all: \
    --find-links "$wheels" \
    "$wheels"/acme_aliyun-*.whl

# Console scripts and caches are of no use in the function.
rm -rf "$build/bin"
find "$build" -name __pycache__ -type d -prune -exec rm -rf {} +

cp "$here/index.py" "$build/index.py"
if [ -n "$ini" ]; then
    cp "$ini" "$build/acme.ini"
    chmod 0644 "$build/acme.ini"    # FC reads it as another user than the packer
    echo "==> packed $ini as acme.ini"
else
    echo "==> no acme.ini packed (--without-ini): set ACME_ALIYUN_CONFIG_TEXT or ACME_ALIYUN_CONFIG on the function"
fi

echo "==> $out"
rm -f "$out"
"$python" - "$build" "$out" <<'EOF'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
    for folder, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(folder, name)
            arc = os.path.relpath(path, src)
            info = zipfile.ZipInfo.from_file(path, arc)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as fh:
                zf.writestr(info, fh.read())
size = os.path.getsize(out)
print("    %.1f MB" % (size / 1e6))
if size > 100 * 1024 * 1024:
    print("    over 100 MB: upload it through OSS (code: {ossBucketName, ossObjectName} in s.yaml)")
EOF
"$python" - "$build" <<'EOF'
import os, sys
build = sys.argv[1]
for need in ("index.py", "acme_aliyun/fc.py", "cryptography", "requests", "aliyunsdkcore"):
    if not os.path.exists(os.path.join(build, need)):
        sys.exit("build.sh: %s is missing from the package" % need)
EOF
cat <<'EOF'
==> done; next:
    cd deploy/fc && s deploy
    s invoke -e '{"triggerName":"manual","payload":"{\"action\":\"run\"}"}'
EOF
