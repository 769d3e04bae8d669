#!/usr/bin/env bash
# The platform webhooks end to end against a real `sift serve`: the handshakes, each recorded payload signed as its
# platform documents, a replay of each (no duplicate: the rows are counted), YouTube polled from a file, a bad
# signature refused, and payloads sift cannot read kept (then listed with `sift webhooks unknown`).
#   bash scripts/webhooks_demo.sh [port]        (needs curl, openssl, sqlite3; about 30 s with the release model)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-18743}
DIR=$(mktemp -d)
cp tests/fixtures/platforms/youtube_comment_threads.json "$DIR/threads.json"
export SIFT_DATA_DIR=$DIR SIFT_META_APP_SECRET=demo-app-secret SIFT_META_VERIFY_TOKEN=demo-verify \
  SIFT_X_CONSUMER_SECRET=demo-consumer-secret SIFT_YOUTUBE_POLL_SOURCE=$DIR/threads.json SIFT_YOUTUBE_POLL_SECONDS=5
setsid .venv/bin/python -m cli.main serve --host 127.0.0.1 --port "$PORT" > "$DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill -- -$SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 120); do curl -sf "127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 1; done
sleep 6  # one YouTube poll at start-up, and one more five seconds later

set -u
B=http://127.0.0.1:$PORT; F=tests/fixtures/platforms; DB=$DIR/sift.db
meta_sig() { printf 'sha256=%s' "$(openssl dgst -sha256 -hmac demo-app-secret -hex < "$1" | sed 's/^.*= //')"; }
x_sig() { printf 'sha256=%s' "$(openssl dgst -sha256 -hmac demo-consumer-secret -binary < "$1" | base64)"; }
rows() { sqlite3 "$DB" "select count(*) from classifications where channel='$1'"; }
echo "== Meta verification handshake"; curl -s "$B/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=demo-verify"; echo
echo "== X CRC"; curl -s "$B/webhooks/x?crc_token=9b4507b3-9040-4669-9ca3-6b94edb50553"; echo
for round in first replay; do
  echo "== Meta Page feed, $round delivery"
  curl -s -w ' HTTP %{http_code}\n' "$B/webhooks/meta" -H 'content-type: application/json' -H "X-Hub-Signature-256: $(meta_sig $F/meta_page_feed.json)" --data-binary @$F/meta_page_feed.json \
    | python3 -c 'import sys,json; t=sys.stdin.read(); j=json.loads(t[:t.rindex(" HTTP")]); print({k: j[k] for k in ("decided","already_seen")}, [(i["id"], i["status"], i["record_id"][:8]) for i in j["items"]], t[t.rindex(" HTTP"):].strip())'
  echo "   facebook rows in classifications: $(rows facebook)"
done
echo "== Instagram comments, twice"
for round in 1 2; do curl -s "$B/webhooks/meta" -H "X-Hub-Signature-256: $(meta_sig $F/meta_instagram_comments.json)" --data-binary @$F/meta_instagram_comments.json | python3 -c 'import sys,json; j=json.load(sys.stdin); print({k: j[k] for k in ("decided","already_seen")})'; done
echo "   instagram rows: $(rows instagram)"
echo "== X tweet_create_events, twice"
for round in 1 2; do curl -s "$B/webhooks/x" -H "x-twitter-webhooks-signature: $(x_sig $F/x_tweet_create_events.json)" --data-binary @$F/x_tweet_create_events.json | python3 -c 'import sys,json; j=json.load(sys.stdin); print({k: j[k] for k in ("decided","already_seen","ignored")})'; done
echo "   twitter rows: $(rows twitter)"
echo "== YouTube: polled from $(basename $DIR/threads.json) every 5 s since start-up, and POSTed once more"
curl -s "$B/webhooks/youtube" --data-binary @$F/youtube_comment_threads.json | python3 -c 'import sys,json; j=json.load(sys.stdin); print({k: j[k] for k in ("decided","already_seen")})'
echo "   youtube rows: $(rows youtube); inbound events decided: $(sqlite3 $DB "select platform||'='||count(*) from inbound_events group by platform" | tr '\n' ' ')"
echo "== A bad signature"; curl -s -w ' HTTP %{http_code}\n' "$B/webhooks/meta" -H 'X-Hub-Signature-256: sha256=00' --data-binary @$F/meta_page_feed.json
echo "== A Page field sift does not read (ratings)"
curl -s -w ' HTTP %{http_code}\n' "$B/webhooks/meta" -H "X-Hub-Signature-256: $(meta_sig $F/meta_page_ratings.json)" --data-binary @$F/meta_page_ratings.json
echo "== A YouTube resource that is not comments"
curl -s -w ' HTTP %{http_code}\n' "$B/webhooks/youtube" --data-binary @$F/youtube_video_list.json
echo "   kept payloads: $(sqlite3 $DB 'select count(*) from webhook_unknown'); classifications in all: $(sqlite3 $DB 'select count(*) from classifications')"
echo "== sift webhooks unknown"
.venv/bin/python -m cli.main webhooks unknown | cut -c1-120
echo "== the server log: $(grep -c . "$DIR/server.log") lines; comment texts, authors or secrets in it: $(grep -ciE "boiler|Harbour|a_tenant_77|demo-app-secret|demo-verify|demo-consumer" "$DIR/server.log" || true)"
