# Sourced by scripts/run and scripts/test: create or refresh .venv with the given extras.
# Reinstalls only when pyproject.toml changed since the last install (a stamp holds its hash).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
extras="${1:-}"
py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "bridge needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
stamp="$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)${extras:+-$extras}"
if [ ! -f "$stamp" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  if [ -n "$extras" ]; then
    "$venv/bin/python" -m pip install --quiet -e ".[$extras]"
  else
    "$venv/bin/python" -m pip install --quiet -e .
  fi
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
