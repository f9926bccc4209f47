# remotebook Slurm, run on the login node: submit, poll, reach and cancel the batch job
# that runs this project's Jupyter on a compute node; one JSON answer after a marker line.
# POSIX sh. remotebook prepends the RB_* assignments, `set -- SBATCH-ARGS...` and common.sh,
# every value quoted with shlex: the sbatch arguments arrive as arguments, never re-parsed.
#
# Files (the home is shared by login and compute nodes, as on a cluster):
#   ~/.remotebook/jobs/<key>/        job id, token, the job script, its output (private)
#   ~/.remotebook/<node>/<key>/      what the bootstrap in the job wrote on the node
#   ~/.remotebook/<login>/<key>/     this login node's relay to the node (node.sock, relay.ctl)
# shellcheck disable=SC2088,SC2015,SC2153,SC2154 # literal "~/" prefixes; A && B || fail is meant; RB_* come from the header; rb_root, rb_real from common.sh (rb_resolve_root, rb_judge)

rb_slurm_dirs() {
    rb_canonical_root || rb_fail root_not_writable "cannot enter remote_dir $rb_root"
    # shellcheck disable=SC2154 # rb_key: set by rb_canonical_root (common.sh)
    rb_jobs="$HOME/.remotebook/jobs/$rb_key"
    rb_login=$(hostname 2>/dev/null || uname -n)
    rb_login=${rb_login%%.*}
    rb_ldir="$HOME/.remotebook/$rb_login/$rb_key"
    rb_lsock="$rb_ldir/node.sock"
    rb_ctl="$rb_ldir/relay.ctl"
    if [ "${#rb_lsock}" -gt 100 ]; then # sockaddr_un holds ~104 bytes
        rb_lsock="${TMPDIR:-/tmp}/rb-$(id -u)-$rb_key-relay/node.sock"
        rb_ctl="${rb_lsock%/*}/relay.ctl"
    fi
}

rb_text() { # a JSON string that keeps newlines (Slurm's and the job's own words)
    printf '"'
    printf '%s' "$1" | tr -d '\000-\010\013-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' |
        awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }'
    printf '"'
}

rb_need_slurm() {
    for rb_c in sbatch squeue scontrol scancel; do
        command -v "$rb_c" >/dev/null 2>&1 ||
            rb_fail no_slurm "no Slurm here: $rb_c is not on the PATH of a login shell on $rb_login"
    done
}

rb_job_line() { scontrol -o show job "$1" 2>/dev/null | sed -n '/^JobId=/{p;q;}'; }
rb_field() { printf '%s' "$2" | sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p"; } # KEY LINE

rb_find_job() { # sets rb_job, rb_line (scontrol -o), rb_state; rb_ended: the line of a job of ours that ended
    rb_job='' rb_line='' rb_state='' rb_ended=''
    read -r rb_job 2>/dev/null <"$rb_jobs/job" || :
    if [ -n "$rb_job" ]; then
        rb_line=$(rb_job_line "$rb_job")
        rb_state=$(rb_field JobState "$rb_line")
        case $rb_state in PENDING | CONFIGURING | RUNNING | SUSPENDED | REQUEUED | RESIZING) return 0 ;; esac
        rb_ended=$rb_line
        [ -n "$rb_line" ] || rb_ended_sacct=$(sacct -n -P -j "$rb_job" -o JobID,State,ExitCode,Reason 2>/dev/null)
    fi
    # Submitted from another laptop, or this state was wiped: the comment names this project's root.
    rb_found=$(squeue -h -u "$(id -un)" -o "$RB_SQUEUE_FORMAT" 2>/dev/null |
        awk -F'|' -v c="remotebook:$rb_key" '$10 == c && ($2 == "PENDING" || $2 == "RUNNING" || $2 == "CONFIGURING") { print $1 }' |
        sort -n | tail -n 1)
    [ -n "$rb_found" ] || return 0
    rb_job=$rb_found
    rb_line=$(rb_job_line "$rb_job")
    rb_state=$(rb_field JobState "$rb_line")
    rb_put "$rb_jobs/job" "$rb_job"
}

rb_out_tail() { tail -n 30 -- "$rb_jobs/job-$rb_job.out" 2>/dev/null; }

rb_submit() { # the job runs the bootstrap (RB_JOB_SCRIPT) as its one step, on the node it gets
    [ -n "$RB_TOKEN" ] || rb_fail auth_off "remotebook sent no token, and it never starts Jupyter without one"
    rb_put "$rb_jobs/token" "$RB_TOKEN" && rb_put "$rb_jobs/job.sh" "#!/bin/sh
$RB_JOB_SCRIPT" || rb_fail state_dir "cannot write to $rb_jobs (disk full?)"
    rm -f -- "$rb_jobs/job"
    # The job inherits this environment: give it the login shell's locale back, not the script's C.
    # Our options come last: they win over a profile's extra_args.
    rb_sbatch=$(
        rb_user_locale
        sbatch --parsable "$@" --job-name="$RB_JOB_NAME" --comment="remotebook:$rb_key" \
            --output="$rb_jobs/job-%j.out" --chdir="$rb_root" "$rb_jobs/job.sh" 2>"$rb_jobs/sbatch.err"
    ) || {
        rb_why=$(sed -n 's/^sbatch: error: //p' "$rb_jobs/sbatch.err" | tail -n 1)
        rb_fail sbatch_rejected "sbatch refused the job: ${rb_why:-$(tail -n 1 "$rb_jobs/sbatch.err")}"
    }
    rb_job=${rb_sbatch%%;*}
    rb_put "$rb_jobs/job" "$rb_job"
    rb_answer "{\"ok\":true,\"action\":\"submitted\",\"sbatch\":$(rb_text "$rb_sbatch"),\"login\":$(rb_str "$rb_login"),\"previous\":$(rb_text "$rb_ended")}"
    exit 0
}

rb_relay() { # NODE SOCKET: a unix socket on this login node that reaches SOCKET on NODE through ssh
    rb_to="$1:$2"
    rb_was=
    read -r rb_was 2>/dev/null <"$rb_ldir/relay.to" || :
    if [ "$rb_was" = "$rb_to" ] && [ -S "$rb_lsock" ] && ssh -S "$rb_ctl" -O check remotebook-relay 2>/dev/null; then
        return 0
    fi
    ssh -S "$rb_ctl" -O exit remotebook-relay >/dev/null 2>&1
    rb_private_dir "$rb_ldir" && rb_private_dir "${rb_lsock%/*}" || rb_fail state_dir "cannot create a private dir $rb_ldir"
    rm -f -- "$rb_lsock" "$rb_ctl" "$rb_ldir/relay.to"
    # The node's host key is checked against known_hosts (never accepted blindly: no accept-new);
    # no prompt can be answered here. -f returns once the socket listens.
    ssh -f -N -M -S "$rb_ctl" -o ControlPersist=no -o BatchMode=yes -o StrictHostKeyChecking=yes \
        -o ExitOnForwardFailure=yes -o ServerAliveInterval=15 -o ServerAliveCountMax=3 -o ConnectTimeout=10 \
        -o StreamLocalBindUnlink=yes -L "$rb_lsock:$2" -- "$1" </dev/null >/dev/null 2>"$rb_ldir/relay.err" ||
        return 1
    rb_put "$rb_ldir/relay.to" "$rb_to"
}

rb_relay_step() { squeue -h -s -j "$rb_job" -o %j 2>/dev/null | grep -qx rb-relay; } # the job's relay step lives

rb_tcp_relay() { # NODE SOCKET: a TCP port on NODE's address relayed to SOCKET by a step of the job (srun --overlap)
    rb_pfile="$rb_jobs/relay-$rb_job.port"
    rb_port=
    if [ -s "$rb_pfile" ] && rb_relay_step; then read -r rb_port 2>/dev/null <"$rb_pfile" || :; fi
    if [ -z "$rb_port" ] && [ "$RB_ACTION" = ensure ]; then
        rb_naddr=$(scontrol -o show node "$1" 2>/dev/null | sed -n 's/.* NodeAddr=\([^ ]*\).*/\1/p')
        [ -n "$rb_naddr" ] || rb_fail no_node_address "cannot find the address of node $1 (scontrol show node $1)"
        rm -f -- "$rb_pfile"
        rb_put "$rb_jobs/relay.py" "$RB_RELAY" && rb_put "$rb_jobs/relay-$rb_job.addr" "$rb_naddr" ||
            rb_fail state_dir "cannot write to $rb_jobs (disk full?)"
        # The relay takes connections only from this login node's own addresses (as the node sees it).
        rb_laddrs=$(hostname -I 2>/dev/null || ip -o addr show 2>/dev/null | awk '{ sub("/.*", "", $4); print $4 }')
        # shellcheck disable=SC2086 # split on purpose: one address a line
        rb_laddrs=$(printf '%s\n' $rb_laddrs | grep -v -e '^127\.' -e '^::1$' -e '^fe80:' | tr '\n' ',')
        [ -n "$rb_laddrs" ] || rb_fail relay_failed "cannot tell the addresses of the login node $rb_login (hostname -I, ip addr)"
        rb_spid=
        read -r rb_spid 2>/dev/null <"$HOME/.remotebook/$1/$rb_key/server.pid" || :
        # The step runs on the node with the job's own python (Jupyter's), else python3; it ends with the job.
        # shellcheck disable=SC2016 # the node's sh expands them
        set -- srun --jobid="$rb_job" --overlap --nodes=1 --ntasks=1 --nodelist="$1" --job-name=rb-relay \
            --input=none --output="$rb_jobs/relay-$rb_job.log" \
            sh -c 'py=$(readlink "/proc/$1/exe" 2>/dev/null); [ -x "$py" ] || py=python3; shift; exec "$py" "$@"' \
            sh "${rb_spid:-0}" "$rb_jobs/relay.py" "$rb_naddr" "$2" "$rb_pfile" "$rb_laddrs"
        set -- nohup "$@"
        command -v setsid >/dev/null 2>&1 && set -- setsid "$@"
        "$@" </dev/null >"$rb_jobs/relay-$rb_job.srun" 2>&1 &
        rb_srun=$!
        n=0
        while [ "$n" -lt 150 ] && [ ! -s "$rb_pfile" ]; do # ~30 s: srun asks slurmctld, then the step starts on the node
            sleep 0.2 2>/dev/null || sleep 1
            n=$((n + 1))
        done
        read -r rb_port 2>/dev/null <"$rb_pfile" || :
        if [ -z "$rb_port" ]; then # nothing of a relay that did not start is left running: its srun, its step
            kill "$rb_srun" 2>/dev/null
            for rb_step in $(squeue -h -s -j "$rb_job" -o '%i %j' 2>/dev/null | awk '$2 == "rb-relay" { print $1 }'); do
                scancel "$rb_step" 2>/dev/null
            done
            rb_fail relay_failed "the TCP relay in job $rb_job did not start: $(cat -- "$rb_jobs/relay-$rb_job.srun" "$rb_jobs/relay-$rb_job.log" 2>/dev/null | tail -n 1)"
        fi
        rb_put "$rb_jobs/via-$rb_job" tcp-relay
    fi
    if [ -z "$rb_port" ]; then # `query` while the relay is not (or no longer) there: no endpoint without a port
        rb_answer "{\"ok\":true,\"action\":\"starting\",\"job\":$(rb_str "$rb_job"),\"line\":$(rb_text "$rb_line")}"
        exit 0
    fi
    rb_naddr=
    read -r rb_naddr 2>/dev/null <"$rb_jobs/relay-$rb_job.addr" || :
    rb_via=tcp-relay rb_endpoint="$rb_naddr:$rb_port"
}

rb_node_tunnel() { # NODE SOCKET: sets rb_via, rb_endpoint (and rb_fallback: why node ssh was not used)
    rb_fallback='' rb_chosen=''
    read -r rb_chosen 2>/dev/null <"$rb_jobs/via-$rb_job" || :
    if [ "$rb_chosen" = tcp-relay ]; then # chosen for this job already: ssh to its node was refused
        rb_fallback=$(cat -- "$rb_jobs/fallback-$rb_job" 2>/dev/null)
        rb_tcp_relay "$1" "$2"
    elif [ "$RB_ACTION" = query ] && [ ! -S "$rb_lsock" ]; then
        rb_via=node-ssh rb_endpoint=$rb_lsock
    elif rb_relay "$1" "$2"; then
        rb_via=node-ssh rb_endpoint=$rb_lsock
    else
        rb_why="ssh from the login node $rb_login to the job's node $1 failed: $(tail -n 1 "$rb_ldir/relay.err")"
        [ "$RB_TUNNEL" = auto ] && [ "$RB_ALLOW_TCP" = yes ] || rb_fail node_ssh_refused "$rb_why"
        rb_put "$rb_jobs/fallback-$rb_job" "$rb_why"
        rb_fallback=$rb_why
        rb_tcp_relay "$1" "$2"
    fi
}

rb_json_key() { sed -n "s/^  \"$1\": \"\\{0,1\\}\\([^\",]*\\)\"\\{0,1\\},\\{0,1\\}\$/\\1/p" -- "$2"; } # KEY jpserver.json

rb_running() { # the job runs: its server, once Jupyter wrote its runtime info on the node; the tunnel to it
    rb_node=$(rb_field BatchHost "$rb_line")
    rb_node=${rb_node%%.*}
    rb_ndir="$HOME/.remotebook/$rb_node/$rb_key"
    rb_info='' n=0
    while :; do # ensure waits (bounded) for Jupyter's runtime info here: file reads, no scheduler query
        rb_njob=''
        read -r rb_njob 2>/dev/null <"$rb_ndir/job" || :
        if [ "$rb_njob" = "$rb_job" ]; then # files of an earlier job on that node are not this one's
            for rb_f in "$rb_ndir"/runtime/jpserver-*.json; do [ -s "$rb_f" ] && rb_info=$rb_f && break; done
        fi
        [ -z "$rb_info" ] && [ "$RB_ACTION" = ensure ] && [ "$n" -lt 50 ] || break # ~5 s, then the next poll
        sleep 0.1 2>/dev/null || sleep 1
        n=$((n + 1))
    done
    if [ -z "$rb_info" ]; then
        rb_answer "{\"ok\":true,\"action\":\"starting\",\"job\":$(rb_str "$rb_job"),\"line\":$(rb_text "$rb_line")}"
        exit 0
    fi
    rb_tok=
    read -r rb_tok 2>/dev/null <"$rb_jobs/token" || :
    if [ "$(rb_json_key token "$rb_info")" != "$rb_tok" ] || [ -z "$rb_tok" ]; then
        scancel "$rb_job" 2>/dev/null
        rb_fail auth_off "the job's Jupyter does not use remotebook's token (a Jupyter config sets it?): remotebook cancelled job $rb_job"
    fi
    rb_sock=$(rb_json_key sock "$rb_info")
    rb_fallback=
    if [ -n "$rb_sock" ]; then
        rb_node_tunnel "$rb_node" "$rb_sock"
    else # tunnel = "tcp": Jupyter listens on the node's address, and only its token protects it
        rb_via=tcp rb_endpoint="$(rb_json_key hostname "$rb_info"):$(rb_json_key port "$rb_info")"
    fi
    rb_pid=
    read -r rb_pid 2>/dev/null <"$rb_ndir/server.pid" || :
    rb_kt=
    read -r rb_kt 2>/dev/null <"$rb_ndir/kernel_transport" || :
    rb_answer "{\"ok\":true,\"action\":\"running\",\"job\":$(rb_str "$rb_job"),\"node\":$(rb_str "$rb_node"),\"login\":$(rb_str "$rb_login"),\"via\":\"$rb_via\",\"fallback\":$(rb_text "$rb_fallback"),\"endpoint\":$(rb_str "$rb_endpoint"),\"pid\":${rb_pid:-0},\"host\":$(rb_str "$rb_node"),\"log\":$(rb_str "$rb_ndir/server.log"),\"root_dir\":$(rb_str "$rb_root"),\"kernel_transport\":$(rb_str "${rb_kt:-tcp}"),\"line\":$(rb_text "$rb_line"),\"info\":$(tr "\n" " " <"$rb_info")}"
}

rb_cancel() { # scancel our job and wait (bounded) until Slurm says it ended; then its files and the relay go
    rb_how=none
    if [ -n "$rb_job" ] && [ -n "$rb_state" ]; then
        scancel "$rb_job" 2>/dev/null && rb_how=scancel
        n=0
        while [ "$n" -lt 60 ]; do # ~30 s: a job's processes get SIGTERM, then SIGKILL after KillWait
            case $(rb_field JobState "$(rb_job_line "$rb_job")") in
                PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED) ;;
                *) break ;;
            esac
            sleep 0.5 2>/dev/null || sleep 1
            n=$((n + 1))
        done
    fi
    ssh -S "$rb_ctl" -O exit remotebook-relay >/dev/null 2>&1
    rb_node=$(rb_field BatchHost "$rb_line")
    [ -z "$rb_node" ] || rm -rf -- "$HOME/.remotebook/${rb_node%%.*}/$rb_key"
    rm -rf -- "$rb_jobs" "$rb_ldir" "${rb_lsock%/*}" 2>/dev/null
    if [ "$rb_how" = scancel ]; then
        rb_answer "{\"ok\":true,\"action\":\"stopped\",\"how\":\"scancel\",\"job\":$(rb_str "$rb_job")}"
    else
        rb_answer '{"ok":true,"action":"not_running"}'
    fi
}

rb_resolve_root
[ -d "$rb_root" ] || mkdir -p -- "$rb_root" 2>/dev/null || rb_fail root_not_writable "cannot create remote_dir $rb_root"
rb_slurm_dirs
rb_private_dir "$rb_jobs" || rb_fail state_dir "cannot create a private dir $rb_jobs"
rb_need_slurm
rb_find_job
case $RB_ACTION in
    ensure | query)
        case $rb_state in
            RUNNING) rb_running ;;
            PENDING | CONFIGURING | SUSPENDED | REQUEUED | RESIZING)
                rb_answer "{\"ok\":true,\"action\":\"waiting\",\"job\":$(rb_str "$rb_job"),\"line\":$(rb_text "$rb_line")}"
                ;;
            *)
                if [ "$RB_ACTION" = ensure ] && [ "$RB_SUBMIT" = yes ]; then rb_submit "$@"; fi
                rb_answer "{\"ok\":true,\"action\":\"ended\",\"job\":$(rb_str "$rb_job"),\"line\":$(rb_text "$rb_ended"),\"sacct\":$(rb_text "${rb_ended_sacct:-}"),\"output\":$(rb_text "$(rb_out_tail)")}"
                ;;
        esac
        ;;
    stop) rb_cancel ;;
    logs)
        rb_node=$(rb_field BatchHost "$rb_line")
        rb_log="$HOME/.remotebook/${rb_node%%.*}/$rb_key/server.log"
        [ -n "$rb_node" ] && [ -f "$rb_log" ] || rb_log="$rb_jobs/job-$rb_job.out"
        [ -n "$rb_job" ] && [ -f "$rb_log" ] || rb_fail no_log "no batch job and no server log for $rb_root"
        rb_log_mark
        if [ "$RB_FOLLOW" = yes ]; then exec tail -n "$RB_LINES" -f -- "$rb_log"; fi
        exec tail -n "$RB_LINES" -- "$rb_log"
        ;;
    *) rb_fail usage "unknown action $RB_ACTION" ;;
esac
