#!/usr/bin/env bash
# Assembles the container image's root filesystem (see packaging/Containerfile):
#   scripts/container-rootfs.sh BINARY OUTDIR [SPA_DIR]
# BINARY is a built `keyward`; its shared libraries and loader are copied
# from this machine (as `ldd` resolves them), so the image runs exactly the
# libraries the binary was built against. SPA_DIR defaults to frontend/dist.
set -euo pipefail
bin=${1:?usage: container-rootfs.sh BINARY OUTDIR [SPA_DIR]}
out=${2:?usage: container-rootfs.sh BINARY OUTDIR [SPA_DIR]}
spa=${3:-$(dirname "$0")/../frontend/dist}

rm -rf "$out"
mkdir -p "$out/usr/bin" "$out/etc" "$out/data" "$out/tmp" "$out/srv/keyward"
install -m 0755 "$bin" "$out/usr/bin/keyward"
# The loader and every library, at the paths the binary asks for.
ldd "$bin" | awk '/=> \// { print $3 } /^\s*\/[^ ]+ \(/ { print $1 }' | sort -u | while read -r lib; do
    mkdir -p "$out$(dirname "$lib")"
    cp -L "$lib" "$out$lib"
done
# The CA bundle, for HTTPS webhook deliveries (without it they fail with a
# certificate error; the server logs that at start).
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$out/etc/ssl/certs"
    cp -L /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/"
fi
printf 'root:x:0:0:root:/:/sbin/nologin\nkeyward:x:65532:65532:keyward:/data:/sbin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\nkeyward:x:65532:\n' >"$out/etc/group"
if [ -f "$spa/index.html" ]; then
    cp -r "$spa" "$out/srv/keyward/spa"
else
    echo "container-rootfs: no built web app in $spa (run \`just spa\`); the image serves the API only" >&2
    mkdir -p "$out/srv/keyward/spa"
fi
chown -R 65532:65532 "$out/data" 2>/dev/null || true
chmod 1777 "$out/tmp"
echo "container-rootfs: $(du -sh "$out" | cut -f1) in $out"
