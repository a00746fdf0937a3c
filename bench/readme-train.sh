#!/usr/bin/env bash
# README command 1 timed on this machine's CPU (issue 23: "training, metrics, phases, plots and
# report in at most 5 minutes on 2 CPU cores, set-up excepted").
#
#   bench/readme-train.sh [CORES]     (default 2; pins the run to CPUs 0..CORES-1 with taskset)
#
# Set-up (libtorch, the release build) is done first and not timed; then `./pz train` runs on a
# fresh zoo folder exactly as the README's first command does (same spec, same defaults, so
# metrics, phases, plots and the report all run), and the wall time of each stage is read from
# the files the stages leave. Prints one JSON line at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cores=${1:-2}
# shellcheck source=../scripts/libtorch-env.sh
source scripts/libtorch-env.sh
cargo build --release --locked -p phasezoo >&2
zoo=$(mktemp -d "${TMPDIR:-/tmp}/pz-readme-XXXXXX")/zoo
trap 'rm -rf "$(dirname "$zoo")"' EXIT
pin=()
command -v taskset >/dev/null && pin=(taskset -c "0-$((cores - 1))")
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), cores used: $cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
start=$(date +%s.%N)
PHASEZOO_NO_PROGRESS=1 "${pin[@]}" target/release/phasezoo train --out "$zoo" 2>&1 | tee "$(dirname "$zoo")/log" >&2
end=$(date +%s.%N)
# Each stage's end is the newest file it writes.
newest() { find "$zoo" -name "$1" -printf '%T@\n' | sort -n | tail -1; }
trained=$(newest result.json)
measured=$(newest metrics.json)
reported=$(newest 'report.html')
secs() { echo "$1 - $start" | bc; }
[ -n "$reported" ] && [ -e "$zoo/index.csv" ] && [ -n "$measured" ] ||
  { echo "error: no report.html, metrics.json or index.csv under $zoo: README command 1 did not finish its stages" >&2; exit 1; }
printf '{"cores":%s,"wall_s":%.1f,"trained_s":%.1f,"metrics_done_s":%.1f,"report_done_s":%.1f,"load_after":"%s"}\n' \
  "$cores" "$(echo "$end - $start" | bc)" "$(secs "$trained")" "$(secs "$measured")" "$(secs "$reported")" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
