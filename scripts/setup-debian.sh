#!/usr/bin/env bash
# Installs what the test suite needs beyond npm, from Debian's archive:
# the Rust toolchain that builds and tests crate/ for wasm32, and the real
# SOCKS5 server and Tor daemon the Tor tests start, and tmux, the terminal
# the CLI's progress bars are checked in. Run as root (or with sudo).
set -euo pipefail
packages=(rustc cargo libstd-rust-dev-wasm32 lld microsocks tor tmux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
