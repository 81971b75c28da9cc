#!/usr/bin/env bash
# Set up pyrtcstack on a fresh Debian machine with Python >= 3.11.
#
#   bash scripts/setup.sh            # virtualenv .venv with the package, test and fuzz extras
#   bash scripts/setup.sh --system   # the same, plus (as root) the system interop peers
#
# Idempotent and quick when nothing changed: pip runs only when pyproject.toml changed,
# apt only for packages that are missing. Nothing is downloaded except from PyPI and the
# Debian archive.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
want_system=0
[ "${1:-}" = "--system" ] && want_system=1

is_root() { [ "$(id -u)" = 0 ]; }
apt_updated=0
apt_install() {
    # apt_install PKG...: install the Debian packages that are not installed yet.
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! is_root; then
        echo "setup: not root; cannot install ${missing[*]} (tests that need them will skip)" >&2
        return 0
    fi
    if [ $apt_updated = 0 ]; then
        apt-get update -q >/dev/null
        apt_updated=1
    fi
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    echo "setup: apt-get install ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
        --no-install-recommends "${missing[@]}" >/dev/null
}

# 1. The virtualenv.
if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt_install python3-venv
        "$PY" -m venv "$VENV"
    fi
fi
stamp="$VENV/.pyrtcstack-setup"
want=$(cat pyproject.toml | sha256sum | cut -c1-64)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    log="$VENV/setup-pip.log"
    # .wheelhouse: the runtime dependencies and the build backend as wheels, so the
    # packaging test builds our wheel and installs it into a fresh venv with no network
    # (tests/test_packaging.py, inside the suite's private network namespace).
    if ! { "$VENV/bin/python" -m pip install -q --upgrade pip &&
           "$VENV/bin/python" -m pip install -q -e ".[test,fuzz]" &&
           "$VENV/bin/python" -m pip download -q -d .wheelhouse "setuptools>=77" \
               $("$VENV/bin/python" -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))'); } >"$log" 2>&1; then
        cat "$log" >&2
        echo "setup: pip install failed (log above, also in $log)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi

# 2. System interop peers (listed one per line in scripts/system-packages.txt).
if [ $want_system = 1 ]; then
    mapfile -t pkgs < <(grep -vE '^\s*(#|$)' scripts/system-packages.txt | awk '{print $1}')
    apt_install "${pkgs[@]}"
    # werift (Node WebRTC peer, tests/test_werift_*.py): npm ci from the committed lock file
    # into the gitignored .werift/; skipped when the lock file is unchanged since last time.
    command -v npm >/dev/null 2>&1 || apt_install npm  # nodesource's nodejs already ships npm
    werift_src=pyrtcstack/interop/werift
    if command -v npm >/dev/null 2>&1 &&
       ! cmp -s "$werift_src/package-lock.json" .werift/package-lock.json 2>/dev/null; then
        mkdir -p .werift
        cp "$werift_src/package.json" "$werift_src/package-lock.json" .werift/
        (cd .werift && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
            { rm -f .werift/package-lock.json; echo "setup: npm ci (werift) failed" >&2; exit 1; }
    fi
    # Pion (Go WebRTC peer, tests/test_pion_interop.py): built offline from Debian's sources
    # under /usr/share/gocode into the gitignored .pion/; cached until its sources change.
    if command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/github.com/pion/webrtc ]; then
        "$VENV/bin/python" -c 'from pyrtcstack.interop.launchers import build_pion_peer as b; b()' ||
            { echo "setup: building the Pion peer failed" >&2; exit 1; }
    fi
fi
