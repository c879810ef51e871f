#!/usr/bin/env bash
# Make sure a Redis answers on REDIS_URL's host and port (default 127.0.0.1:6379); start one if not.
set -euo pipefail
url="${REDIS_URL:-redis://127.0.0.1:6379/0}"
hostport="${url#redis://}"; hostport="${hostport%%/*}"; hostport="${hostport##*@}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379
answers() {
  if command -v redis-cli >/dev/null; then
    redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG
  else
    (exec 3<>"/dev/tcp/$host/$port" && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null
  fi
}
answers && exit 0
if ! command -v redis-server >/dev/null; then
  if command -v apt-get >/dev/null; then
    echo "redis-server not found: installing it (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null
  else
    echo "redis-server not found; the Redis-backed tests will use fakeredis only" >&2
    exit 0
  fi
fi
echo "starting redis-server on $host:$port"
redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no \
  --logfile /tmp/redis-"$port".log
for _ in $(seq 50); do
  answers && exit 0
  sleep 0.1
done
echo "redis-server did not answer on $host:$port" >&2
exit 1
