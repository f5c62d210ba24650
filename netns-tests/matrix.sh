#!/usr/bin/env bash
# Runs the whole NAT matrix (netns-tests/matrix.txt) with the real binaries, one lab per
# scenario, then prints the summary table and writes it as JSON. For users' own CI as well:
#   netns-tests/matrix.sh [--bin DIR] [--out FILE] [SCENARIO...]
# Needs root (network namespaces); exits 77 without it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../build/bin"
out="$here/out/matrix.json"
only=()
while [ $# -gt 0 ]; do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) only+=("$1"); shift ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "matrix: skipped: needs root for network namespaces"; exit 77; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT
while read -r name kind_a kind_b expected mib vars; do
  case $name in ''|'#'*) continue ;; esac
  if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" $name "* ]]; then continue; fi
  # shellcheck disable=SC2086 # vars is a list of VAR=value words
  env $vars SCENARIO="$name" MATRIX_RESULTS="$results" "$here/punch_pair.sh" "$bin" "$kind_a" "$kind_b" "$expected" "$mib" \
    >/dev/null 2>&1
done <"$here/matrix.txt"
python3 "$here/matrix_summary.py" "$results" --out "$out"
