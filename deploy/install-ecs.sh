#!/usr/bin/env bash
# Install (or upgrade) acme-aliyun on an ECS instance. Safe to run again.
#
#   sudo deploy/install-ecs.sh [OPTIONS] [PACKAGE]
#
# PACKAGE  what pip installs: a source folder, a wheel or sdist file, or a
#          requirement such as "acme-aliyun" or "acme-aliyun==1.2.0".
#          Default: this checkout when the script runs from one, else "acme-aliyun".
# Options:
#   --cron        use /etc/cron.d even where systemd runs
#   --no-enable   install the units but do not enable the timer
#   -h, --help    this text
# Environment: PYTHON (default python3; must be 3.9 or newer), and pip's own
#   variables (PIP_INDEX_URL=https://mirrors.aliyun.com/pypi/simple/ for the
#   Alibaba Cloud mirror, PIP_NO_INDEX, PIP_FIND_LINKS, ...).
#
# What it does:
#   user/group acme-aliyun (system account, no login, home /var/lib/acme-aliyun)
#   /opt/acme-aliyun/venv          the virtualenv with acme-aliyun in it
#   /usr/local/bin/acme-aliyun     runs it as the acme-aliyun user with the config below
#   /etc/acme-aliyun/              0750 root:acme-aliyun: acme.ini (you write it, 0640), acme.ini.example
#   /var/lib/acme-aliyun/          0700 acme-aliyun: account key, certificates, lock
#   systemd: acme-aliyun.service + acme-aliyun.timer (enabled), else /etc/cron.d/acme-aliyun
# It never touches an existing acme.ini, nor any key or certificate.
set -euo pipefail
umask 022    # the venv must be readable by the service user whatever root's umask is

NAME=acme-aliyun
PREFIX=/opt/acme-aliyun
VENV=$PREFIX/venv
CONF_DIR=/etc/acme-aliyun
STATE_DIR=/var/lib/acme-aliyun
UNIT_DIR=/etc/systemd/system
CRON_FILE=/etc/cron.d/acme-aliyun
WRAPPER=/usr/local/bin/acme-aliyun

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
mode=auto
enable=yes
package=""

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
say() { printf '==> %s\n' "$*"; }
die() { printf 'install-ecs.sh: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --cron) mode=cron ;;
        --no-enable) enable=no ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [ -z "$package" ] || die "one PACKAGE only (see --help)"; package="$1" ;;
    esac
    shift
done

if [ -z "$package" ]; then
    if [ -f "$here/../setup.cfg" ] && [ -d "$here/../acme_aliyun" ]; then
        package="$(cd "$here/.." && pwd)"
    else
        package=acme-aliyun
    fi
elif [ -e "$package" ]; then
    package="$(cd "$(dirname "$package")" && pwd)/$(basename "$package")"   # pip runs elsewhere
fi

for f in systemd/acme-aliyun.service systemd/acme-aliyun.timer cron/acme-aliyun acme.ini.ecs.example; do
    [ -f "$here/$f" ] || die "$here/$f is missing: run this script from the acme-aliyun source tree"
done
[ "$(id -u)" -eq 0 ] || die "run it as root (sudo $0 ...)"

# --- Python -----------------------------------------------------------------------------------
command -v "$python" >/dev/null 2>&1 || die "$python not found; install Python 3.9+ (Alibaba Cloud Linux 3: dnf install python3.11; Ubuntu/Debian: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3.X"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
    || die "$("$python" -V 2>&1) is too old; install Python 3.9+ (e.g. dnf install python3.11) and run again with PYTHON=python3.11"
"$python" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$python has no venv/ensurepip module; install it (Debian/Ubuntu: apt-get install python3-venv)"

# --- user and folders ----------------------------------------------------------------------------
if ! getent group "$NAME" >/dev/null; then
    say "creating group $NAME"
    groupadd --system "$NAME"
fi
if ! id -u "$NAME" >/dev/null 2>&1; then
    say "creating user $NAME"
    nologin="$(command -v nologin || echo /sbin/nologin)"
    useradd --system --gid "$NAME" --home-dir "$STATE_DIR" --no-create-home --shell "$nologin" \
        --comment "acme-aliyun certificate renewal" "$NAME"
fi
install -d -m 0755 "$PREFIX"
# The configuration belongs to root (the service user only reads it): root's admin wrapper
# and anything else run as root must never act on a file the service user could rewrite.
install -d -m 0750 -o root -g "$NAME" "$CONF_DIR"
chown "root:$NAME" "$CONF_DIR" && chmod 0750 "$CONF_DIR"
install -d -m 0700 -o "$NAME" -g "$NAME" "$STATE_DIR"
# Files a root-run of an older version may have left behind must stay readable by the service.
chown -R "$NAME:$NAME" "$STATE_DIR" && chmod 0700 "$STATE_DIR"

# --- the virtualenv ------------------------------------------------------------------------------
# venv_matches VENV PYTHON: true when VENV's interpreter runs (with ssl, which pip
# needs) and is the same Python as PYTHON (version and installation).
venv_matches() {
    local probe='import sys, ssl; print(sys.version.split()[0], sys.base_prefix)'
    local have want
    have="$("$1/bin/python" -c "$probe" 2>/dev/null)" || return 1
    want="$("$2" -c "$probe" 2>/dev/null)" || return 1
    [ -n "$have" ] && [ "$have" = "$want" ]
}
if [ -e "$VENV" ] && ! venv_matches "$VENV" "$python"; then
    say "$VENV does not work or is not $("$python" -V 2>&1) from $(command -v "$python"): recreating it"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $("$python" -V 2>&1)"
    "$python" -m venv "$VENV"
fi
say "installing $package"
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true   # an old pip still works
"$VENV/bin/python" -m pip install --quiet --upgrade "$package"
[ -x "$VENV/bin/acme-aliyun" ] || die "pip did not install $VENV/bin/acme-aliyun"
if command -v runuser >/dev/null 2>&1 && ! runuser -u "$NAME" -- "$VENV/bin/acme-aliyun" --version >/dev/null 2>&1; then
    die "the $NAME user cannot run $VENV/bin/acme-aliyun: is $python in a folder only root can read (pyenv under /root)? Use a system-wide Python: PYTHON=/usr/bin/python3.X"
fi
say "installed: $("$VENV/bin/acme-aliyun" --version)"

# --- the command for admins ------------------------------------------------------------------------
# Runs as the service user so that keys and certificates created by hand (acme-aliyun
# deploy NAME, account register, ...) stay readable by the timer's runs.
cat > "$WRAPPER.tmp" <<EOF
#!/bin/sh
# Installed by acme-aliyun's install-ecs.sh: run acme-aliyun as the $NAME user
# with $CONF_DIR/acme.ini (override with -c or ACME_ALIYUN_CONFIG).
# The env file is read by the service user, never by root.
export ACME_ALIYUN_CONFIG="\${ACME_ALIYUN_CONFIG:-$CONF_DIR/acme.ini}"
run='if [ -r $CONF_DIR/acme-aliyun.env ]; then set -a; . $CONF_DIR/acme-aliyun.env; set +a; fi; exec $VENV/bin/acme-aliyun "\$@"'
if [ "\$(id -u)" -eq 0 ]; then
    exec runuser -u $NAME -- /bin/sh -c "\$run" acme-aliyun "\$@"
fi
exec /bin/sh -c "\$run" acme-aliyun "\$@"
EOF
chmod 0755 "$WRAPPER.tmp" && mv -f "$WRAPPER.tmp" "$WRAPPER"

# --- configuration -----------------------------------------------------------------------------------
# root:acme-aliyun 0640: the service reads them, only root writes them.
install -m 0640 -o root -g "$NAME" "$here/acme.ini.ecs.example" "$CONF_DIR/acme.ini.example"
if [ -f "$CONF_DIR/acme.ini" ]; then
    chown "root:$NAME" "$CONF_DIR/acme.ini" && chmod 0640 "$CONF_DIR/acme.ini"
    have_config=yes
else
    have_config=no
fi
[ ! -f "$CONF_DIR/acme-aliyun.env" ] || { chown "root:$NAME" "$CONF_DIR/acme-aliyun.env"; chmod 0640 "$CONF_DIR/acme-aliyun.env"; }

# --- schedule --------------------------------------------------------------------------------------------
if [ "$mode" = auto ]; then
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then mode=systemd; else mode=cron; fi
fi
if [ "$mode" = systemd ]; then
    say "installing $UNIT_DIR/acme-aliyun.service and acme-aliyun.timer"
    install -m 0644 "$here/systemd/acme-aliyun.service" "$UNIT_DIR/acme-aliyun.service"
    install -m 0644 "$here/systemd/acme-aliyun.timer" "$UNIT_DIR/acme-aliyun.timer"
    version="$(systemctl --version | awk 'NR==1 {print $2}')"
    if [ "${version:-0}" -lt 247 ] 2>/dev/null; then
        say "note: systemd $version ignores some hardening settings of the unit (fine; 247+ applies all)"
    fi
    if [ -f "$CRON_FILE" ]; then
        say "removing $CRON_FILE (the timer replaces it)"
        rm -f "$CRON_FILE"
    fi
    systemctl daemon-reload
    if [ "$enable" = yes ]; then
        systemctl enable --now acme-aliyun.timer
    fi
else
    say "installing $CRON_FILE"
    install -m 0644 -o root -g root "$here/cron/acme-aliyun" "$CRON_FILE"
    if ! command -v crond >/dev/null 2>&1 && ! command -v cron >/dev/null 2>&1; then
        say "warning: no cron daemon found; install cronie (dnf) or cron (apt) and start it"
    fi
fi

cat <<EOF

acme-aliyun is installed ($mode).
EOF
if [ "$have_config" = no ]; then
    cat <<EOF
Next:
  1. install -m 0640 -o root -g $NAME $CONF_DIR/acme.ini.example $CONF_DIR/acme.ini
     and edit it: your e-mail, domains, CDN/DCDN/API Gateway targets, RamRole.
     Nothing runs until that file exists.
EOF
else
    echo "Next (your $CONF_DIR/acme.ini was kept):"
fi
cat <<EOF
  2. acme-aliyun cloud check        # credentials (RAM role) and every target
  3. acme-aliyun run                # first issue + deploy, by hand
EOF
if [ "$mode" = systemd ]; then
    cat <<EOF
  4. systemctl list-timers acme-aliyun.timer ; journalctl -u acme-aliyun
EOF
else
    cat <<EOF
  4. runs twice a day from $CRON_FILE; cron mails what a failing run prints
EOF
fi
