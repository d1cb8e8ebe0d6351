# Sourced by scripts/demo and scripts/test: makes .venv with vigie installed in it.
# Idempotent and quick when nothing changed (the install is skipped while pyproject.toml
# and the chosen extras are the same as last time).
set -euo pipefail

VIGIE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="${VIGIE_VENV:-$VIGIE_ROOT/.venv}"

say() { printf '\033[1mvigie:\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

apt_install() {
  # apt_install PACKAGE...: install Debian/Ubuntu packages if apt is here and we may.
  command -v apt-get >/dev/null 2>&1 || return 1
  say "installing system packages: $*"
  if [ -z "${VIGIE_APT_UPDATED:-}" ]; then
    as_root apt-get update -qq || return 1
    export VIGIE_APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

find_python() {
  local candidate
  for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_venv() {
  local extras="$1" python stamp want
  if [ ! -x "$VENV/bin/python" ]; then
    python=$(find_python) || {
      say "vigie needs Python 3.11 or newer (apt-get install python3), or set PYTHON=/path/to/python3.11+"
      exit 1
    }
    if ! "$python" -m venv "$VENV" 2>/dev/null; then
      # Debian and Ubuntu ship venv separately (python3.X-venv).
      rm -rf "$VENV"
      local minor
      minor=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      apt_install "python${minor}-venv" || apt_install python3-venv || {
        say "cannot create a virtual environment: install python${minor}-venv (apt-get install python${minor}-venv)"
        exit 1
      }
      "$python" -m venv "$VENV"
    fi
    say "created $VENV with $("$VENV/bin/python" --version)"
  fi
  stamp="$VENV/.vigie-installed"
  want="$(cat "$VIGIE_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1) $extras"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing vigie and its dependencies into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$VIGIE_ROOT[$extras]"
    echo "$want" > "$stamp"
  fi
}
