#!/bin/sh
# Run localstripe and register the orders webhook. localstripe keeps webhooks in memory
# only, so this must happen on every start of the container, not once.
set -eu
PORT="${PORT:-8420}"
rm -f /tmp/webhook-registered

localstripe --port "$PORT" --from-scratch &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

python - <<'PY'
import os, time, urllib.parse, urllib.request

base = f"http://127.0.0.1:{os.environ.get('PORT', '8420')}"
form = {"url": os.environ["WEBHOOK_URL"], "secret": os.environ["STRIPE_WEBHOOK_SECRET"]}
data = urllib.parse.urlencode(form).encode()
for _ in range(120):
    try:
        urllib.request.urlopen(f"{base}/_config/webhooks/liveloop", data=data, timeout=2)
        break
    except OSError:
        time.sleep(0.5)
else:
    raise SystemExit("localstripe: could not register the webhook")
open("/tmp/webhook-registered", "w").close()
print("localstripe: webhook registered for", form["url"], flush=True)
PY

wait "$pid"
