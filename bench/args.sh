# shellcheck shell=bash
# Sourced by the comparison benchmarks (expose_bench.sh, tunnel_bench.sh): their common command
# line. Set `duration`, `paths` and `smoke_paths` (empty: the same paths) first, then
# `bench_args "$@"`; it sets `smoke`, `duration` and the array `paths`, and defines
# `want PATH` (is it measured) and `drop PATH` (leave it out).
#   [--smoke] [SECONDS] [--paths LIST]   --help prints the script's leading comment
bench_args() {
  smoke=0
  local name
  name=$(basename "$0" .sh)
  while [ $# -gt 0 ]; do
    case $1 in
      --smoke) smoke=1; duration=1; paths=${smoke_paths:-$paths} ;;
      --paths) paths=$2; shift ;;
      --paths=*) paths=${1#--paths=} ;;
      -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
      [0-9]*) duration=$1 ;;
      *) echo "$name: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  IFS=, read -r -a paths <<<"$paths"
}
want() { local p; for p in "${paths[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }
drop() { mapfile -t paths < <(printf '%s\n' "${paths[@]}" | grep -vx "$1"); }
