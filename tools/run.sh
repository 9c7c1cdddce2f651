#!/usr/bin/env bash
# `make run`: start Slotwise (sandbox mode unless Azure bot settings are present) and, in sandbox mode
# when Node is available, the Microsoft 365 Agents Playground bound to loopback, talking to the bot.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${SLOTWISE_PORT:-3978}"
playground_port="${TEAMSAPPTESTER_PORT:-56150}"
mkdir -p var
if [ -z "${MicrosoftAppId:-}" ] && command -v node >/dev/null 2>&1 \
   && [ -f tools/playground/node_modules/@microsoft/m365agentsplayground/cli.js ]; then
  TEAMSAPPTESTER_BROWSER=none TEAMSAPPTESTER_PORT="$playground_port" \
    node -r ./tools/playground/loopback-only.cjs \
    tools/playground/node_modules/@microsoft/m365agentsplayground/cli.js \
    -e "http://127.0.0.1:${port}/api/messages" -p "$playground_port" --disable-telemetry \
    > var/playground.log 2>&1 &
  playground=$!
  trap 'kill "$playground" 2>/dev/null || true' EXIT INT TERM
  echo "Microsoft 365 Agents Playground: http://127.0.0.1:${playground_port} (log: var/playground.log)" >&2
else
  echo "Agents Playground not started (sandbox mode and Node.js are needed; see README)." >&2
fi
.venv/bin/python app.py
