#!/usr/bin/env bash
# Starts Keyward's container image and checks that it serves:
#   scripts/container-test.sh [BINARY]   (default target/debug/keyward)
# With a working container engine (docker) the image itself is built from
# packaging/Containerfile and run. Without one (CI here has the docker CLI
# but no daemon), the same root filesystem runs under chroot as the image's
# user with the image's environment, so the binary finds nothing of the host:
# the libraries, users and web app it needs must all be in the image.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/keyward}
work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    [ -n "${cid:-}" ] && docker rm -f "$cid" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

bash scripts/container-rootfs.sh "$bin" "$work/rootfs"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

if docker info >/dev/null 2>&1; then
    docker build -q -f packaging/Containerfile -t keyward:test "$work/rootfs"
    cid=$(docker run -d -p "127.0.0.1:$port:8080" keyward:test)
    how="docker"
elif [ "$(id -u)" -eq 0 ] && command -v chroot >/dev/null; then
    # The image's environment, from the Containerfile's ENV lines.
    mapfile -t envs < <(sed -n '/^ENV /,/[^\\]$/p' packaging/Containerfile |
        sed -e 's/^ENV //' -e 's/\\$//' | tr ' ' '\n' | grep '=')
    env -i "${envs[@]}" KEYWARD_LISTEN="127.0.0.1:$port" \
        "$(command -v chroot)" --userspec=65532:65532 "$work/rootfs" /usr/bin/keyward serve \
        >"$work/log" 2>&1 &
    pid=$!
    how="chroot (no container engine)"
else
    echo "container-test: needs a container engine or root for chroot" >&2
    exit 1
fi

for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
        break
    fi
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/readyz" | grep -q ready || {
    echo "container-test: the image did not become ready" >&2
    cat "$work/log" 2>/dev/null || docker logs "$cid" >&2 || true
    exit 1
}
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/whoami")
[ "$status" = 401 ] || { echo "container-test: /v1/whoami gave $status" >&2; exit 1; }
if [ -f frontend/dist/index.html ]; then
    curl -fsS "http://127.0.0.1:$port/" | grep -qi '<html' || {
        echo "container-test: the web app is not served" >&2
        exit 1
    }
fi
if [ -n "$pid" ]; then
    # JSON logs, the data directory the image's user owns.
    grep -q '"level"' "$work/log" || { echo "container-test: logs are not JSON" >&2; cat "$work/log"; exit 1; }
    [ -f "$work/rootfs/data/keyward.db" ] || ls "$work/rootfs/data" | grep -q . || {
        echo "container-test: nothing was written to /data" >&2
        exit 1
    }
fi
echo "container-test: the image serves (via $how; $(du -sh "$work/rootfs" | cut -f1))"
