#!/usr/bin/env bash
# Waits up to $1 s (default 540) for bench/device-run.sh, copying master.log, a tar of /tmp/devrun and
# one of the validation zoo's results (no checkpoints) to $OUT every 20 s, so a call cut short still brings back the latest.
lim=${1:-540}
R=/tmp/devrun
t0=$(date +%s)
copy() {
  [ -n "${OUT:-}" ] || return 0
  cp "$R/master.log" "$OUT/master.log" 2> /dev/null
  tar czf "$OUT/devrun.tgz.part" -C "$R" --exclude='*.safetensors' . 2> /dev/null && mv "$OUT/devrun.tgz.part" "$OUT/devrun.tgz"
  # The validation zoo's results so far (metrics.json, status; no checkpoints): a Hessian pass cut
  # short by the end of the device time still brings back the models it finished.
  [ -d /tmp/zoos/val ] && tar czf "$OUT/val-zoo.tgz.part" -C /tmp/zoos/val --exclude='checkpoint_*' --exclude='*.safetensors' . 2> /dev/null &&
    mv "$OUT/val-zoo.tgz.part" "$OUT/val-zoo.tgz"
}
while [ $(($(date +%s) - t0)) -lt "$lim" ]; do
  copy
  [ -f "$R/DONE" ] && break
  sleep 20
done
copy
ls -la "$OUT" 2> /dev/null
cat "$R/master.log"
