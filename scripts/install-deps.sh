#!/bin/sh
# Installs the Debian 12 packages sail needs to build, test and benchmark.
# Idempotent: packages already present are skipped without touching apt.
set -e
PKGS="build-essential pkg-config
libutf8proc-dev libjpeg62-turbo-dev libpng-dev libwebp-dev zlib1g-dev libjansson-dev libzip-dev
libopenblas-dev liblapack-dev jq
libfreetype-dev libharfbuzz-dev libxml2-dev
libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg
libswresample-dev libfftw3-dev python3-torchaudio python3-soundfile fonts-noto-color-emoji unicode-data unicode-cldr-core
python3-numpy python3-torch python3-torchvision python3-pil python3-venv python3-pip python3-setuptools
python3-faiss python3-hnswlib python3-matplotlib
clang libclang-rt-14-dev
libmicrohttpd-dev openssl wrk chromium fonts-wqy-microhei
libsentencepiece-dev python3-sentencepiece
libespeak-ng-dev espeak-ng-data espeak-ng libsox-dev sox librsvg2-dev libcairo2-dev
tuxpaint-stamps-default
nginx-light openmpi-bin libopenmpi-dev
redis-server redis-tools libhiredis-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# node and npm for the server's client tests (the openai npm package,
# playwright-core); a node that did not come from Debian (NodeSource) brings
# its own npm, and Debian's npm package would conflict with it.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
npm_deps() {
    d=$(dirname "$0")/../tests/server
    if [ -d "$d" ] && command -v npm >/dev/null 2>&1 &&
        { [ ! -d "$d/node_modules/openai" ] || [ ! -d "$d/node_modules/playwright-core" ]; }; then
        echo "install-deps: npm ci in tests/server (openai, playwright-core)"
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error) ||
            echo "install-deps: npm ci failed; the server's node tests will be skipped"
    fi
}
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    npm_deps
    exit 0
fi
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
npm_deps
