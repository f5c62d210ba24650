#!/usr/bin/env bash
# Packages an already-built tree with CPack (no build of its own), unpacks the .deb into a temporary
# root with `dpkg -x` and checks it: the binaries run, the units and configs are there, the shipped
# configs are accepted, and `systemd-analyze verify` accepts the units (skipped, exit 77, without
# systemd-analyze). See packaging/README.md.
#   tests/package_test.sh BUILD_DIR   (or BUILD_DIR/bin)
set -euo pipefail
build=$(cd "$1" && pwd)
[ "$(basename "$build")" = bin ] && build=$(dirname "$build")
[ -f "$build/CPackConfig.cmake" ] || { echo "package_test: no CPackConfig.cmake in $build"; exit 1; }
if grep -q '^CMAKE_BUILD_TYPE:STRING=Sanitize$' "$build/CMakeCache.txt"; then
  echo "SKIPPED: package_deb: sanitizer builds are not packaged"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

# The package, into the temporary directory (-B) so a scripts/package.sh run beside is untouched.
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
deb="$work/pkg/holepunch_${version}_$(dpkg --print-architecture).deb"
(cd "$build" && cpack -G DEB -B "$work/pkg") >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; exit 1; }
[ -f "$deb" ] || { echo "FAIL cpack made no $(basename "$deb")"; ls "$work/pkg"; exit 1; }
pass "cpack made $(basename "$deb")"

info=$(dpkg-deb -I "$deb")
grep -q '^ Package: holepunch$' <<<"$info" && pass "control: Package holepunch" || fail "control: no Package: holepunch"
grep -q '^ Depends: .*libsodium' <<<"$info" && pass "control: Depends computed" || fail "control: Depends lacks libsodium"
conffiles=$(dpkg-deb -I "$deb" conffiles)
for f in /etc/holepunch/rendezvous.json /etc/holepunch/home.json.example; do
  grep -qx "$f" <<<"$conffiles" && pass "conffile $f" || fail "$f is not a conffile"
done

root="$work/root"
dpkg -x "$deb" "$root"
for f in usr/bin/peer usr/bin/rendezvous; do
  [ -x "$root/$f" ] && pass "/$f executable" || fail "/$f missing or not executable"
done
for f in lib/systemd/system/rendezvous.service lib/systemd/system/peer-online@.service \
         etc/holepunch/rendezvous.json etc/holepunch/home.json.example; do
  [ -f "$root/$f" ] && pass "/$f" || fail "/$f missing"
done
[ "$(stat -c %a "$root/etc/holepunch/rendezvous.json")" = 600 ] && pass "rendezvous.json is mode 0600" \
  || fail "rendezvous.json (it holds the token) is not mode 0600"
for unit in rendezvous peer; do
  grep -q "^ExecStart=/usr/bin/$unit " "$root"/lib/systemd/system/*.service && pass "a unit starts /usr/bin/$unit" \
    || fail "no unit has ExecStart=/usr/bin/$unit"
done

# The extracted binaries run, and take the shipped configs as they are.
"$root/usr/bin/peer" --help >/dev/null && pass "peer --help" || fail "peer --help exited non-zero"
"$root/usr/bin/rendezvous" --help >/dev/null && pass "rendezvous --help" || fail "rendezvous --help exited non-zero"
"$root/usr/bin/rendezvous" --config "$root/etc/holepunch/rendezvous.json" --state "$work/state" list-ids \
  >"$work/out" 2>&1 && pass "rendezvous accepts rendezvous.json" || { fail "rendezvous rejects rendezvous.json"; cat "$work/out"; }
"$root/usr/bin/peer" --config "$root/etc/holepunch/home.json.example" --identity "$work/identity" id \
  >"$work/out" 2>&1 && pass "peer accepts home.json.example" || { fail "peer rejects home.json.example"; cat "$work/out"; }

if ! command -v systemd-analyze >/dev/null; then
  [ "$failed" = 0 ] || { echo "package_test: $failed check(s) failed"; exit 1; }
  echo "SKIPPED: package_deb: systemd-analyze verify (systemd-analyze not installed: apt-get install systemd)"
  exit 77
fi
# verify needs each ExecStart binary to exist. --root would look for sysinit.target and the rest
# inside the unpacked root, which has none; so verify copies pointing at the unpacked binaries. It
# exits 0 on unknown keys and bad values, only printing them: any output is a failure.
mkdir "$work/units"
for unit in rendezvous.service peer-online@.service; do
  sed "s#^ExecStart=/usr/bin/#ExecStart=$root/usr/bin/#" "$root/lib/systemd/system/$unit" >"$work/units/$unit"
  if out=$(systemd-analyze verify "$work/units/$unit" 2>&1) && [ -z "$out" ]; then
    pass "systemd-analyze verify $unit"
  else
    fail "systemd-analyze verify $unit:"; echo "$out"
  fi
done
[ "$failed" = 0 ] || { echo "package_test: $failed check(s) failed"; exit 1; }
echo "package_test: all checks passed"
