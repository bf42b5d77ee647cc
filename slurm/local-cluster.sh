#!/usr/bin/env bash
# A real single-node SLURM 22.05 cluster on this machine, for sweeps and tests (see slurm/README.md).
#
#   slurm/local-cluster.sh up       install Debian's packages if missing, write the config, start what is not running,
#                                   wait until the node is idle. Idempotent: a second `up` is a quick health check.
#   slurm/local-cluster.sh stop     stop the daemons that `up` started (and only those), newest first.
#   slurm/local-cluster.sh status   daemon states, sinfo, squeue.
#
# No systemd is needed: the daemons are started by hand in the order munged -> mariadbd -> slurmdbd (the cluster is
# registered with sacctmgr) -> slurmctld -> slurmd. The pid of every daemon this script starts is recorded under
# $STATE/started/, and `stop` signals only those pids. Accounting (slurmdbd + MariaDB) is not optional: without it
# sacct fails and submitit waits forever for a job that was killed without writing its result.
#
# Environment: VSSL_SLURM_STATE (default /var/tmp/vssl-slurm) holds state, spool, logs and pid records.
set -euo pipefail

STATE=${VSSL_SLURM_STATE:-/var/tmp/vssl-slurm}
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
DBD_CONF=$CONF_DIR/slurmdbd.conf
CLUSTER=localcluster
MARKER="# Written by vssl-bench slurm/local-cluster.sh"
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
MYSQL_SOCK=/run/mysqld/mysqld.sock
MYSQL_DIR=$STATE/mysql           # pid + log of mariadbd: must be owned by mysql
LOG=$STATE/log
STARTED=$STATE/started
HOST=$(hostname -s)

say() { printf '[local-cluster] %s\n' "$*"; }
die() {  # die MESSAGE [LOGFILE...]: the message, the tail of each log, exit 1
    local msg=$1
    shift
    printf '[local-cluster] ERROR: %s\n' "$msg" >&2
    local f
    for f in "$@"; do
        if [[ -s $f ]]; then
            printf -- '--- last lines of %s ---\n' "$f" >&2
            tail -n 25 "$f" >&2
        fi
    done
    exit 1
}

# ---------------------------------------------------------------------------------------------------- processes
alive() {  # alive PID NAME: the pid exists and runs the program NAME (guards against reused pids)
    [[ -n ${1:-} && -r /proc/$1/comm ]] && [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2"* ]]
}
pid_from() { [[ -r $1 ]] && tr -dc '0-9' <"$1" || true; }
record_started() { mkdir -p "$STARTED"; echo "$2" >"$STARTED/$1.pid"; }
wait_for() {  # wait_for SECONDS CMD...: poll CMD every 0.1 s
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
mysql_ok() { mariadb-admin --socket="$MYSQL_SOCK" --connect-timeout=2 ping >/dev/null 2>&1; }
dbd_ok() { sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }
ctld_ok() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
daemon_pid() {  # pid of a running slurm daemon from its configured pid file, or nothing
    local pid
    pid=$(pid_from "$STATE/$1.pid")
    if alive "$pid" "$1"; then echo "$pid"; fi
}
node_state() { sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -n1; }

# ---------------------------------------------------------------------------------------------------- install
missing_packages() {
    local p out=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out+=("$p")
    done
    echo "${out[*]}"
}

install_packages() {
    local missing
    missing=$(missing_packages)
    [[ -z $missing ]] && return 0
    command -v apt-get >/dev/null || die "packages missing ($missing) and apt-get is not available"
    say "installing: $missing (and their dependencies)"
    mkdir -p "$LOG"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >"$LOG/apt.log" 2>&1 || die "apt-get update failed" "$LOG/apt.log"
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >>"$LOG/apt.log" 2>&1 ||
        die "apt-get install failed" "$LOG/apt.log"
    [[ -z $(missing_packages) ]] || die "still missing after install: $(missing_packages)" "$LOG/apt.log"
}

# ---------------------------------------------------------------------------------------------------- config
slurm_conf() {  # slurm_conf FIRST_JOB_ID
    local node mem
    node=$(slurmd -C 2>/dev/null | head -n1)
    [[ $node == NodeName=* ]] || die "slurmd -C did not describe this node (got: $node)"
    # RealMemory is rounded down to 512 MB so that small fluctuations never change the config (and a node that
    # reports less memory than configured would be drained).
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
    node=$(sed "s/RealMemory=[0-9]*/RealMemory=$((mem / 512 * 512))/" <<<"$node")
    cat <<EOF
$MARKER; rewritten by every \`up\`.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits cred_expire seconds before it may start again (default 120: too slow for tests).
AuthInfo=cred_expire=10
MpiDefault=none
# No usable cgroups here: jobs are not confined to their CPUs or memory.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# Accounting is what lets sacct (and so submitit) see jobs that were killed without a result.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobCompType=jobcomp/none
SchedulerType=sched/backfill
# batch_sched_delay=0: array tasks start at once. bf_interval/sched_interval: a job whose begin time passes (a
# requeued one) is started within a second or two instead of up to a minute later.
SchedulerParameters=batch_sched_delay=0,bf_interval=1,sched_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Requests the node cannot satisfy fail at submit instead of pending forever.
EnforcePartLimits=ALL
# submitit ignores SIGTERM: SIGKILL 5 s later instead of 30, so a cancelled job does not hold the node.
KillWait=5
# Jobs may be requeued (submitit requeues itself on preemption and on time-out).
JobRequeue=1
# Job ids continue after those the accounting database already holds (see first_job_id).
FirstJobId=$1
MailProg=/bin/true
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
# Jobs ask for their own limit with --time (the launcher's timeout_min), however short.
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

dbd_conf() {
    cat <<EOF
$MARKER; rewritten by every \`up\`.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$1
LogFile=$LOG/slurmdbd.log
PidFile=$STATE/slurmdbd.pid
EOF
}

# The first job id of this controller state. slurmctld numbers jobs from 1 when its state folder is new, but the
# accounting database (/var/lib/mysql) may outlive that folder (a new VSSL_SLURM_STATE, a machine whose /var/tmp was
# wiped): sacct -j N would then also list an older cluster's job N, and a test or submitit would read its state.
# Chosen once per state folder (after MariaDB is up) and kept in $STATE/first_job_id, so a later `up` leaves the
# config unchanged.
first_job_id() {
    local f=$STATE/first_job_id n
    if [[ ! -s $f ]]; then
        n=$(mariadb --socket="$MYSQL_SOCK" -N -e \
            "SELECT COALESCE(MAX(id_job), 0) + 1 FROM slurm_acct_db.${CLUSTER}_job_table" 2>/dev/null) || n=1
        [[ $n =~ ^[0-9]+$ ]] || n=1
        echo "$n" >"$f"
    fi
    cat "$f"
}

# write_conf FILE MODE CONTENT: write CONTENT to FILE unless identical; refuses to replace a file this script did
# not write. Returns 0 if the file changed, 1 if it was already up to date.
write_conf() {
    local file=$1 mode=$2 new=$3
    if [[ -e $file ]] && ! head -n1 "$file" | grep -qF "$MARKER"; then
        die "$file exists and was not written by this script; move it away to use the local cluster"
    fi
    if [[ -e $file ]] && [[ $(cat "$file") == "$new" ]]; then
        return 1
    fi
    mkdir -p "$(dirname "$file")"
    printf '%s\n' "$new" >"$file.tmp"
    chmod "$mode" "$file.tmp"
    mv "$file.tmp" "$file"
    return 0
}

# ---------------------------------------------------------------------------------------------------- daemons
start_munged() {
    if munge_ok; then return 0; fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create >/dev/null 2>&1 || die "no /etc/munge/munge.key and mungekey --create failed"
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
    rm -f /run/munge/munged.pid
    setpriv --reuid munge --regid munge --clear-groups /usr/sbin/munged </dev/null >>"$LOG/munged.start.log" 2>&1 ||
        die "munged did not start" "$LOG/munged.start.log" /var/log/munge/munged.log
    wait_for 10 munge_ok || die "munged started but munge -n | unmunge fails" /var/log/munge/munged.log
    local pid
    pid=$(pid_from /run/munge/munged.pid)
    alive "$pid" munged && record_started munged "$pid"
    say "started munged (pid $pid)"
}

start_mariadb() {
    if mysql_ok; then return 0; fi
    install -d -o mysql -g mysql -m 755 /run/mysqld "$MYSQL_DIR"
    if [[ ! -d /var/lib/mysql/mysql ]]; then
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOG/mariadb-install-db.log" 2>&1 ||
            die "mariadb-install-db failed" "$LOG/mariadb-install-db.log"
    fi
    rm -f "$MYSQL_DIR/mariadbd.pid"
    setsid mariadbd --user=mysql --skip-networking --socket="$MYSQL_SOCK" --pid-file="$MYSQL_DIR/mariadbd.pid" \
        --log-error="$MYSQL_DIR/mariadbd.log" </dev/null >>"$LOG/mariadbd.start.log" 2>&1 &
    wait_for 60 mysql_ok || die "mariadbd did not come up" "$MYSQL_DIR/mariadbd.log" "$LOG/mariadbd.start.log"
    local pid
    pid=$(pid_from "$MYSQL_DIR/mariadbd.pid")
    alive "$pid" mariadbd && record_started mariadbd "$pid"
    say "started mariadbd (pid $pid)"
}

db_password() {
    local f=$STATE/db.pass
    if [[ ! -s $f ]]; then
        (umask 077 && head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20 >"$f")
    fi
    cat "$f"
}

setup_database() {
    local pw=$1
    mariadb --socket="$MYSQL_SOCK" >"$LOG/mariadb-setup.log" 2>&1 <<EOF || die "could not create the accounting database" "$LOG/mariadb-setup.log"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pw';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
}

start_slurm_daemon() {  # start_slurm_daemon NAME CHECK_FN LOGFILE
    local name=$1 check=$2 logfile=$3 pid
    if [[ -n $(daemon_pid "$name") ]]; then return 0; fi
    "$name" </dev/null >>"$LOG/$name.start.log" 2>&1 || die "$name did not start" "$logfile" "$LOG/$name.start.log"
    wait_for 30 "$check" || die "$name started but does not answer" "$logfile" "$LOG/$name.start.log"
    pid=$(daemon_pid "$name")
    [[ -n $pid ]] || die "$name is not running after start" "$logfile" "$LOG/$name.start.log"
    record_started "$name" "$pid"
    say "started $name (pid $pid)"
}

slurmd_ok() { [[ -n $(daemon_pid slurmd) ]]; }

register_cluster() {
    if ! sacctmgr -n -P show cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >"$LOG/sacctmgr.log" 2>&1 ||
            die "sacctmgr add cluster $CLUSTER failed" "$LOG/sacctmgr.log" "$LOG/slurmdbd.log"
        say "registered cluster $CLUSTER with slurmdbd"
    fi
}

stop_pid() {  # stop_pid NAME PID: SIGTERM, then SIGKILL after 15 s
    local name=$1 pid=$2 i
    alive "$pid" "$name" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        alive "$pid" "$name" || return 0
        sleep 0.1
    done
    say "$name (pid $pid) ignored SIGTERM for 15 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

stop_started() {  # stop_started NAME: stop NAME if (and only if) this script started it
    local name=$1 f=$STARTED/$1.pid pid
    [[ -e $f ]] || return 0
    pid=$(pid_from "$f")
    if alive "$pid" "$name"; then
        stop_pid "$name" "$pid"
        say "stopped $name (pid $pid)"
    fi
    rm -f "$f"
}

wait_node_idle() {
    local deadline=$((SECONDS + 60)) st resumed=0
    while ((SECONDS < deadline)); do
        st=$(node_state)
        case $st in
        idle* | mixed* | allocated* | completing*) return 0 ;;
        down* | drain* | fail*)
            if ((resumed == 0)); then
                say "node $HOST is $st; resuming it"
                scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
                resumed=1
            fi
            ;;
        esac
        sleep 0.2
    done
    die "node $HOST did not become idle within 60 s (state: ${st:-unknown}; $(scontrol show node "$HOST" 2>/dev/null | grep -o 'Reason=.*'))" \
        "$LOG/slurmd.log" "$LOG/slurmctld.log"
}

# ---------------------------------------------------------------------------------------------------- commands
cmd_up() {
    local t0=$SECONDS pw conf d restart=()
    [[ $(id -u) == 0 ]] || die "must run as root (installs packages, writes /etc/slurm, starts daemons)"
    install_packages
    mkdir -p "$STATE"/{ctld,spool} "$LOG" "$STARTED"
    pw=$(db_password)
    start_munged
    start_mariadb
    setup_database "$pw"
    conf=$(slurm_conf "$(first_job_id)") || exit 1
    if write_conf "$CONF" 644 "$conf"; then
        say "wrote $CONF"
        restart+=(slurmd slurmctld)
    fi
    if write_conf "$DBD_CONF" 600 "$(dbd_conf "$pw")"; then
        say "wrote $DBD_CONF"
        restart+=(slurmdbd)
    fi
    # a changed config needs its daemons restarted: stop the ones we started (others are left alone)
    for d in "${restart[@]}"; do
        stop_started "$d"
        [[ -z $(daemon_pid "$d") ]] ||
            die "$d is running but was not started by this script; stop it before changing the config"
    done
    start_slurm_daemon slurmdbd dbd_ok "$LOG/slurmdbd.log"
    register_cluster
    start_slurm_daemon slurmctld ctld_ok "$LOG/slurmctld.log"
    start_slurm_daemon slurmd slurmd_ok "$LOG/slurmd.log"
    wait_node_idle
    say "up: node $HOST $(node_state), partition $(sinfo -h -o '%P %l' | head -n1) ($((SECONDS - t0)) s)"
}

cmd_stop() {
    local d any=0
    for d in slurmd slurmctld slurmdbd mariadbd munged; do
        [[ -e $STARTED/$d.pid ]] && any=1
        stop_started "$d"
    done
    ((any)) || say "nothing to stop: no daemon was started by this script"
}

cmd_status() {
    local d pid how rc=0
    printf '%-10s %-8s %-8s %s\n' DAEMON STATE PID STARTED_BY
    for d in munged mariadbd slurmdbd slurmctld slurmd; do
        case $d in
        munged) pid=$(pid_from /run/munge/munged.pid) ;;
        mariadbd) pid=$(pid_from "$MYSQL_DIR/mariadbd.pid") ;;
        *) pid=$(pid_from "$STATE/$d.pid") ;;
        esac
        if alive "$pid" "$d"; then
            how=other
            [[ $(pid_from "$STARTED/$d.pid") == "$pid" ]] && how=local-cluster.sh
            printf '%-10s %-8s %-8s %s\n' "$d" running "$pid" "$how"
        else
            printf '%-10s %-8s %-8s %s\n' "$d" stopped - -
            rc=1
        fi
    done
    echo
    if command -v sinfo >/dev/null && ctld_ok; then
        sinfo
        echo
        squeue
    else
        echo "slurmctld is not answering (run: slurm/local-cluster.sh up)"
    fi
    return $rc
}

case ${1:-} in
up) cmd_up ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
    echo "usage: $0 up|stop|status" >&2
    exit 2
    ;;
esac
