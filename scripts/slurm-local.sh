#!/usr/bin/env bash
# A real single-node Slurm on this machine, for the cluster tests (docs/CLUSTER.md): munged,
# slurmctld and slurmd as root, everything on 127.0.0.1, state, sockets and logs under one
# folder, fake GPUs declared through GRES (gpu and shard counts, no device files).
#
#   scripts/slurm-local.sh start DIR   # prints `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm-local.sh stop DIR    # ends the daemons this script started (by pid file)
#
# Needs Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge) and root.
set -euo pipefail

cmd=${1:?usage: slurm-local.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: slurm-local.sh start|stop DIR}")

stop() {
    for name in slurmd slurmctld munged; do
        pidfile="$dir/$name.pid"
        if [ -s "$pidfile" ]; then
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$pidfile"
        fi
    done
}

if [ "$cmd" = stop ]; then
    stop
    exit 0
fi
[ "$cmd" = start ] || { echo "usage: slurm-local.sh start|stop DIR" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "slurm-local.sh: needs root (slurmd runs jobs as their user)" >&2; exit 1; }

mkdir -p "$dir"/{state,spool,munge}
chmod 700 "$dir/munge"
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ { print int($2 / 1024 / 2) }' /proc/meminfo)

# munge: its own key, socket and pid file, so a system munged (if any) is left alone.
[ -s "$dir/munge/munge.key" ] || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed"

cat > "$dir/slurm.conf" <<CONF
ClusterName=phasezoo-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobRequeue=1
MaxArraySize=1001
SchedulerParameters=defer_batch
MinJobAge=600
GresTypes=gpu,shard
NodeName=pznode NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2,shard:4 State=UNKNOWN
PartitionName=local Nodes=pznode Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
# Shards need GPUs with files; plain files stand in for /dev/nvidia* (no cgroup confines them).
mkdir -p "$dir/dev"
touch "$dir/dev/gpu0" "$dir/dev/gpu1"
cat > "$dir/gres.conf" <<CONF
AutoDetect=off
NodeName=pznode Name=gpu File=$dir/dev/gpu[0-1]
NodeName=pznode Name=shard Count=4
CONF

export SLURM_CONF="$dir/slurm.conf"
started() {
    echo "slurm-local.sh: $1 did not start; logs in $dir" >&2
    tail -n 20 "$dir/$1.log" >&2 || true
    stop
    exit 1
}
slurmctld -f "$SLURM_CONF" -i || started slurmctld
slurmd -f "$SLURM_CONF" -N pznode || started slurmd
for _ in $(seq 100); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "export SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 0.2
done
echo "slurm-local.sh: the node did not come up; logs in $dir" >&2
sinfo >&2 || true
tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
stop
exit 1
