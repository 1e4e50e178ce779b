#!/usr/bin/env bash
# The main job, end to end, on a throwaway local store and a throwaway loopback registry:
# validate -> pack -> list -> inspect -> push -> remote list -> remote inspect -> promote -> kube -> pull -o,
# then the catalog: `skillctl serve` over the same registry, its URL and a curl of its API.
# Run it with `make demo` (which installs everything first).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d -t skillctl-demo-XXXXXX)
registry_pid=""
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export SKILLCTL_STORE="$work/store"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
log:
  level: error
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
python3 - "$port" <<'PY' || { cat "$work/registry.log"; exit 1; }
import sys, time, urllib.request
deadline = time.monotonic() + 10
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=1)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("registry did not start")
        time.sleep(0.1)
PY
reg="127.0.0.1:$port"
echo "store: $SKILLCTL_STORE   registry: $reg (plain HTTP, so --tls-verify=false)"

step skillctl validate examples/hello-world
step skillctl validate examples/log-triage
step skillctl pack examples/hello-world
step skillctl pack examples/log-triage
step skillctl pack examples/hello-world          # same files, same digest: nothing changes
step skillctl list
step skillctl inspect examples/ops/log-triage:0.3.0-draft
step skillctl push "$reg/myorg/hello-world:1.0.0-draft" --tls-verify=false
step skillctl push examples/ops/log-triage:0.3.0-draft "$reg/ops/log-triage:0.3.0-draft" --tls-verify=false
step skillctl list "$reg/ops/log-triage" --tls-verify=false
step skillctl inspect --remote "$reg/myorg/hello-world:1.0.0-draft" --tls-verify=false
step skillctl promote "$reg/ops/log-triage:0.3.0-draft" --to testing --tls-verify=false
step skillctl promote "$reg/ops/log-triage:0.3.0-testing" --to published --tls-verify=false
step skillctl list "$reg/ops/log-triage" --tls-verify=false
step skillctl kube "$reg/ops/log-triage:0.3.0" --image registry.example/agent:1 --tls-verify=false
step skillctl pull "$reg/ops/log-triage:0.3.0" -o "$work/skills" --tls-verify=false
step ls -l "$work/skills/log-triage" "$work/skills/log-triage/scripts"
step skopeo inspect --raw "oci:$SKILLCTL_STORE:examples/hello-world:1.0.0-draft"

printf '\n\033[1m$ %s\033[0m\n' "skillctl serve --registry $reg --tls-verify=false &"
skillctl serve --registry "$reg" --tls-verify=false --port 0 >"$work/serve.log" 2>&1 &
serve_pid=$!
url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://[0-9.:]*' "$work/serve.log" | head -n1 || true)
  [ -n "$url" ] && curl -fs "$url/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
[ -n "$url" ] || { cat "$work/serve.log"; exit 1; }
head -n2 "$work/serve.log"
echo "The catalog's web UI is at $url (open it in a browser while the demo waits 5 seconds)."
step curl -s "$url/api/v1/skills?status=published"
echo
step curl -s "$url/api/v1/skills/examples/ops/log-triage/versions/0.3.0/files"
echo
sleep 5
kill "$serve_pid" && wait "$serve_pid" 2>/dev/null || true
serve_pid=""
echo
echo "Demo done: the store, the registry and the catalog were temporary and are removed now."
