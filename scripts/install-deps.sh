#!/bin/sh
# Installs the Debian 12 packages sail needs to build, test and benchmark.
# Idempotent: packages already present are skipped without touching apt.
set -e
PKGS="build-essential pkg-config
libutf8proc-dev libjpeg62-turbo-dev libpng-dev libwebp-dev zlib1g-dev libjansson-dev
libopenblas-dev liblapack-dev
python3-numpy python3-torch python3-torchvision python3-pil
clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
