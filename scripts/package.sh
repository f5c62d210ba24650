#!/usr/bin/env bash
# Builds (scripts/build.sh) and packages build/ as a Debian package with CPack: binaries, systemd
# units and default configs (packaging/README.md). Prints the .deb's path.
#   scripts/package.sh        -> build/holepunch_VERSION_ARCH.deb  (or $BUILD_DIR/, as build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd "${BUILD_DIR:-build}"
cpack -G DEB >cpack.log || { cat cpack.log >&2; exit 1; }
deb=$(sed -n 's/^CPack: - package: \(.*\.deb\) generated\.$/\1/p' cpack.log)
[ -f "$deb" ] || { cat cpack.log >&2; echo "package.sh: cpack made no .deb" >&2; exit 1; }
echo "$deb"
