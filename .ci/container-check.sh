#!/usr/bin/env bash
# Builds the Dockerfile with ../shared/tools/container-check (buildah, no Docker engine), runs the
# image with a mounted YAML naming two fake Connect nodes on loopback, and checks /healthz, a proxied
# request with its affinity cookie, an h2c POST served as plain HTTP, and that the process runs as
# non-root.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${CONTAINER_CHECK:-../shared/tools/container-check}
[ -x "$tool" ] || { echo "container check: $tool not found (shared/ must sit beside the clone)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null || true; done
  # buildah run leaves its children (the containerised node) behind: end the whole process group.
  [ -n "${run_pid:-}" ] && { kill -TERM -- "-$run_pid"; sleep 1; kill -9 -- "-$run_pid"; } 2>/dev/null
  # ... and its working container, which the killed run could not remove.
  if [ -n "${run_pid:-}" ]; then
    for c in $(buildah --storage-driver vfs containers -q 2>/dev/null); do
      case " ${containers_before:-} " in *" $c "*) ;; *) buildah --storage-driver vfs rm "$c" >/dev/null 2>&1 ;; esac
    done
  fi
  true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

for name in a b; do
  node test/fixtures/fake-connect.mjs --name "$name" > "$work/$name.out" &
  pids+=($!)
done
for name in a b; do
  for _ in $(seq 50); do [ -s "$work/$name.out" ] && break; sleep 0.1; done
done
port_a=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$work/a.out','utf8')).port)")
port_b=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$work/b.out','utf8')).port)")
proxy=$(free_port)
admin=$(free_port)
cat > "$work/config.yaml" <<YAML
# stickylb-container-check
listen: { host: 127.0.0.1, port: $proxy }
admin: { host: 127.0.0.1, port: $admin }
affinity: { secret: "\${STICKYLB_SECRET}" }
upstreams:
  - { name: a, url: "http://127.0.0.1:$port_a" }
  - { name: b, url: "http://127.0.0.1:$port_b" }
YAML
chmod 644 "$work/config.yaml"; chmod 755 "$work"

"$tool" build
containers_before=$(buildah --storage-driver vfs containers -q 2>/dev/null | tr '\n' ' ')
setsid "$tool" run -v "$work/config.yaml:/etc/stickylb/config.yaml" -e STICKYLB_SECRET=container-check-secret-123 > "$work/lb.log" 2>&1 &
run_pid=$!

for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$admin/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$admin/healthz" || { echo "container: /healthz did not answer"; cat "$work/lb.log"; exit 1; }
echo
for _ in $(seq 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/readyz")" = 200 ] && break
  sleep 0.2
done

headers=$(curl -sS -D - -o "$work/body.json" -H 'accept: application/json' "http://127.0.0.1:$proxy/content/")
echo "$headers" | grep -qi '^set-cookie: stickylb=[A-Za-z0-9_-]\{22\}; Path=/; HttpOnly; SameSite=Lax' \
  || { echo "container: no affinity cookie in: $headers"; exit 1; }
cookie=$(echo "$headers" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(stickylb=[^;]*\).*/\1/p')
node=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$work/body.json','utf8')).node)")
for _ in 1 2 3; do
  again=$(curl -sS -H 'accept: application/json' -H "cookie: $cookie" "http://127.0.0.1:$proxy/content/" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).node))")
  [ "$again" = "$node" ] || { echo "container: pinned to $node but served by $again"; exit 1; }
done

# An h2c upgrade (curl --http2 on http://) with a body is served as plain HTTP/1.1 on the image's
# Node, whose http server handles upgrades differently from the Node the tests run on.
h2c=$(curl -sS --max-time 10 --http2 -H 'accept: application/json' -d hello-h2c "http://127.0.0.1:$proxy/echo" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).body))")
[ "$h2c" = hello-h2c ] || { echo "container: h2c POST body came through as '$h2c'"; exit 1; }

pid=$(ss -ltnpH "sport = :$proxy" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$uid" != 0 ] || { echo "container: stickylb runs as root"; exit 1; }
echo "container check passed: /healthz ok, pinned to $node with $cookie, h2c POST served, process uid $uid (non-root)"
