#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, test and run the lab (as root). Idempotent:
# skips apt-get entirely when everything is already installed.
set -euo pipefail
packages=(
  g++ cmake make ccache pkg-config
  libasio-dev nlohmann-json3-dev libcxxopts-dev libspdlog-dev libgtest-dev libsodium-dev libssl-dev libsqlite3-dev
  libhiredis-dev redis-server libmicrohttpd-dev
  iproute2 nftables python3 python3-cryptography python3-prometheus-client curl socat coturn openssh-server openssh-client rsync
  clang-14 libclang-rt-14-dev llvm-14
  dpkg-dev file systemd
  nginx-light wrk iperf3 stunnel4
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
