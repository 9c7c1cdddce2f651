#!/usr/bin/env bash
# `make run`: start Slotwise (sandbox mode unless Azure bot settings are present) and, in sandbox mode
# when Node is available, the Microsoft 365 Agents Playground bound to loopback, talking to the bot.
# The Playground listens on TEAMSAPPTESTER_PORT (its own variable; 56150 when unset), and the guide the
# app prints reads the same variable, so both name the same address.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${SLOTWISE_PORT:-3978}"
export TEAMSAPPTESTER_PORT="${TEAMSAPPTESTER_PORT:-56150}"
mkdir -p "${SLOTWISE_VAR_DIR:-var}"
log="${SLOTWISE_VAR_DIR:-var}/playground.log"
if [ -n "${MicrosoftAppId:-}" ] || ! command -v node >/dev/null 2>&1 \
   || [ ! -f tools/playground/node_modules/@microsoft/m365agentsplayground/cli.js ]; then
  echo "Agents Playground not started (sandbox mode and Node.js are needed; see README)." >&2
elif ! [[ "$TEAMSAPPTESTER_PORT" =~ ^[0-9]{1,5}$ ]] || [ "$TEAMSAPPTESTER_PORT" -lt 1 ] \
   || [ "$TEAMSAPPTESTER_PORT" -gt 65535 ]; then
  echo "Agents Playground not started: TEAMSAPPTESTER_PORT='$TEAMSAPPTESTER_PORT' is not a port number." >&2
else
  TEAMSAPPTESTER_BROWSER=none \
    node -r ./tools/playground/loopback-only.cjs \
    tools/playground/node_modules/@microsoft/m365agentsplayground/cli.js \
    -e "http://127.0.0.1:${port}/api/messages" --disable-telemetry \
    > "$log" 2>&1 &
  playground=$!
  trap 'kill "$playground" 2>/dev/null || true' EXIT INT TERM
  echo "Microsoft 365 Agents Playground: http://127.0.0.1:${TEAMSAPPTESTER_PORT} (log: $log)" >&2
fi
.venv/bin/python app.py
