#!/usr/bin/env bash
# Makes docs/status-page.png, the README's picture of the status page: a demo store built with
# the CLI (at a pinned time, so ages are the same every run), served by `jobstore run --wait
# --http`, shot by headless Chromium.
#   scripts/status-page-screenshot.sh [BUILD_DIR]   (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
js="$root/${1:-build}/cli/jobstore"
work=$(mktemp -d /tmp/jobstore-shot-XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export JOBSTORE_DIR="$work/store" JOBSTORE_TEST_NOW_MS=1764590400000
"$js" init >/dev/null
"$js" config email --max-tries 1 >/dev/null
for i in $(seq 1 42); do echo "{\"to\":\"user$i@example.org\",\"template\":\"welcome\"}"; done |
  "$js" push email >/dev/null
for i in $(seq 1 7); do echo "{\"page\":\"Main_Page\",\"rev\":$((9000 + i))}"; done |
  "$js" push --domain enwiki htmlCacheUpdate >/dev/null
for i in $(seq 1 3); do echo "{\"file\":\"Sunset_$i.jpg\",\"width\":320}"; done |
  "$js" push --domain commons thumbnail >/dev/null
"$js" push --domain enwiki refreshLinks '{"page":"Special:Version"}' --delay 10m >/dev/null
# Two emails fail for good; one thumbnail is being worked on.
for err in "smtp: 550 5.1.1 <user1@example.org>: mailbox unavailable" "smtp: connection timed out after 30s"; do
  claim=$("$js" claim email)
  id=$(sed -E 's/.*"id":([0-9]+).*/\1/' <<<"$claim")
  token=$(sed -E 's/.*"token":"([0-9a-f]+)".*/\1/' <<<"$claim")
  "$js" release email "$id" "$token" --error "$err" >/dev/null
done
"$js" claim --domain commons thumbnail --ttl 10m >/dev/null
export JOBSTORE_TEST_NOW_MS=$((JOBSTORE_TEST_NOW_MS + 154000))
port=$((20000 + RANDOM % 20000))
"$js" run --wait --type null --http "127.0.0.1:$port" >/dev/null 2>"$work/run.err" &
pid=$!
for _ in $(seq 1 50); do grep -q "status page at" "$work/run.err" 2>/dev/null && break; sleep 0.1; done
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --disable-extensions --hide-scrollbars \
  --window-size=1100,460 --user-data-dir="$work/chromium" \
  --screenshot="$root/docs/status-page.png" "http://127.0.0.1:$port/" 2>/dev/null
echo "wrote $root/docs/status-page.png"
