#!/usr/bin/env bash
# install_deps.sh: installs the Debian packages the demos need when any is missing (the build's libraries,
# gnuplot for the plots, node and npm for fetching the demo's data), with sudo unless run as root.
# Used by scripts/demo.sh and scripts/demo_bf16.sh. Exits 1 with the missing names if apt-get fails.
set -euo pipefail
pkgs="build-essential libopenblas-openmp-dev libfftw3-dev libcjson-dev zlib1g-dev gnuplot-nox"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
# node and npm may come from elsewhere than Debian (a node install of its own): only the commands matter
command -v node >/dev/null || missing="$missing nodejs"
command -v npm >/dev/null || missing="$missing npm"
if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    echo "installing:$missing" >&2
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null ||
        { echo "install_deps: apt-get could not install:$missing" >&2; exit 1; }
else
    echo "all installed" >&2
fi
