#!/usr/bin/env bash
# Install what the web tier needs beyond the Python venv:
#   - bun (the frontend package manager Reflex builds with), project-local in .tools/, from the npm registry;
#   - with --browser: Debian's Chromium for the browser tests (never `playwright install`).
# Idempotent. Usage: scripts/setup_web.sh [--browser]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUN_VERSION="1.4.4"
TOOLS="$ROOT/.tools"
BUN="$TOOLS/node_modules/.bin/bun"

want_browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    *) echo "usage: $0 [--browser]" >&2; exit 2 ;;
  esac
done

if [[ -x "$BUN" ]] && [[ "$("$BUN" --version 2>/dev/null)" == "$BUN_VERSION" ]]; then
  echo "bun $BUN_VERSION: already in $TOOLS"
else
  command -v npm >/dev/null || { echo "npm is needed to install bun (apt-get install nodejs npm)" >&2; exit 1; }
  echo "bun $BUN_VERSION: installing into $TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "bun@$BUN_VERSION"
  "$BUN" --version >/dev/null
fi

if [[ "$want_browser" == 1 ]]; then
  if [[ -x /usr/bin/chromium ]]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
  elif [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "chromium: installing Debian's package"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium: not installed and cannot install it here (needs root and apt-get); browser tests will skip" >&2
  fi
fi

cat <<EOF
Web tier ready. To serve the UI by hand:
  export PATH="$TOOLS/node_modules/.bin:\$PATH" REFLEX_USE_SYSTEM_BUN=1 REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=false
  ATLAS_DATABASE_URL=... ATLAS_REDIS_URL=... .venv/bin/reflex run --env prod --single-port --frontend-port 3000
EOF
