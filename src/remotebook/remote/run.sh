# remotebook run: execute one notebook on the server in a detached runner that outlives ssh.
# POSIX sh. remotebook prepends the RB_* assignments and common.sh, every value quoted with
# shlex; the answer is one JSON line after a marker line.
#   start:  check there is no live run of it, find a python with jupyter_client, write the
#           runner, prepare the notebook (check, ids, parameters), start the runner detached
#   status: the run's state file, and whether its runner is alive
#   follow: the run log from its start, until the run ends (streamed after the log mark)
#   list:   every run of this project
#   stop:   SIGINT to the runner (it interrupts the kernel, saves, ends as stopped); TERM, then
#           KILL, when it does not end in time
# The state of a run is ~/.remotebook/<host>/runs/<root key>/<notebook key>/ (0700): outside
# the server's dir, which `down --server` removes, and per host (a pid means nothing elsewhere).
# shellcheck disable=SC2088,SC2015,SC2153,SC2154 # literal "~/" prefixes; A && B || fail is meant; RB_* come from the header; rb_root, rb_real from common.sh (rb_resolve_root, rb_judge)

rb_resolve_root

rb_locate() { # rb_runs (this project's runs), rb_run (this notebook's)
    if ! { [ -d "$rb_root" ] && rb_canonical_root; }; then
        [ "$RB_ACTION" = list ] && rb_answer '{"ok":true,"action":"list","runs":[]}' && exit 0
        rb_fail no_run "no remote_dir $rb_root on this host"
    fi
    rb_host=$(hostname 2>/dev/null || uname -n)
    rb_host=${rb_host%%.*}
    # shellcheck disable=SC2154 # rb_key: set by rb_canonical_root (common.sh)
    rb_runs="$HOME/.remotebook/$rb_host/runs/$rb_key"
    [ -n "$RB_NOTEBOOK" ] || return 0
    case /$RB_NOTEBOOK/ in */../* | //*) rb_fail not_notebook "$RB_NOTEBOOK is not a path inside remote_dir" ;; esac
    rb_run="$rb_runs/$(printf '%s' "$RB_NOTEBOOK" | cksum | cut -d ' ' -f 1)"
}

rb_pid_of() { # DIR: the pid its runner wrote (or run.sh, before the runner started)
    rb_p=
    read -r rb_p 2>/dev/null <"$1/pid" || :
    case $rb_p in '' | *[!0-9]*) return 1 ;; esac
    printf '%s' "$rb_p"
}

rb_is_runner() { # DIR: its runner is alive (a recycled pid runs another program)
    rb_p=$(rb_pid_of "$1") || return 1
    kill -0 "$rb_p" 2>/dev/null || return 1
    if [ -r "/proc/$rb_p/cmdline" ]; then
        tr '\000' ' ' <"/proc/$rb_p/cmdline" 2>/dev/null | grep -Fq -- "$1/runner.py"
        return
    fi
    case " $(ps -ww -p "$rb_p" -o args= 2>/dev/null) " in *"$1/runner.py"*) return 0 ;; esac
    return 1
}

rb_describe() { # DIR: {"alive": ..., "notebook": ..., "run": <its state file>}
    rb_alive=false
    rb_is_runner "$1" && rb_alive=true
    rb_nb=
    read -r rb_nb 2>/dev/null <"$1/notebook" || :
    rb_state=null
    [ -s "$1/run.json" ] && rb_state=$(tr '\n' ' ' <"$1/run.json")
    printf '{"alive":%s,"notebook":%s,"dir":%s,"run":%s}' "$rb_alive" "$(rb_str "$rb_nb")" "$(rb_str "$1")" "$rb_state"
}

rb_find_python() { # rb_py: the first python that has jupyter_client: the project's env, the server's, python3
    rb_activate "$rb_run/setup.log"
    rb_srv_py=
    read -r rb_srv_py 2>/dev/null <"$HOME/.remotebook/$rb_host/$rb_key/python" || :
    # shellcheck disable=SC2154 # rb_env: set by rb_canonical_root (common.sh)
    for rb_c in "$rb_env/bin/python" "$rb_srv_py" "$(command -v python3 2>/dev/null)" "$(command -v python 2>/dev/null)"; do
        [ -n "$rb_c" ] && [ -x "$rb_c" ] || continue
        "$rb_c" -c 'import jupyter_client' >/dev/null 2>&1 && rb_py=$rb_c && return 0
    done
    rb_fail no_runner "no python on the server has jupyter_client (the project's env, the server's, python3)"
}

rb_lock_run() { # one start per notebook at a time; mkdir is atomic
    n=0
    until mkdir -- "$rb_run/lock" 2>/dev/null; do
        n=$((n + 1))
        [ "$n" -lt 200 ] || rb_fail run_active "another remotebook is starting a run of $RB_NOTEBOOK ($rb_run/lock)"
        rb_nap
    done
    trap 'rm -rf -- "$rb_run/lock"' EXIT
}

rb_start() {
    [ -f "$rb_root/$RB_NOTEBOOK" ] || rb_fail no_notebook "$RB_NOTEBOOK is not in $rb_root on the server"
    rb_private_dir "$rb_run" || rb_fail state_dir "cannot create a private dir $rb_run"
    rb_lock_run
    rb_is_runner "$rb_run" && rb_fail run_active "$RB_NOTEBOOK is still running on the server (pid $(rb_pid_of "$rb_run"))"
    rb_find_python
    rm -f -- "$rb_run/pid" "$rb_run/run.json"
    rb_put "$rb_run/runner.py" "$RB_RUNNER" && rb_put "$rb_run/runner_cells.py" "$RB_CELLS" &&
        rb_put "$rb_run/notebook" "$RB_NOTEBOOK" && rb_put "$rb_run/python" "$rb_py" ||
        rb_fail state_dir "cannot write to $rb_run (disk full?)"
    rb_private_dir "$rb_run/runtime" || rb_fail state_dir "cannot create a private dir $rb_run/runtime"
    # The server's view of kernels: this project's env first; connection files in our 0700 dir.
    JUPYTER_PATH="$rb_env/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}" JUPYTER_RUNTIME_DIR="$rb_run/runtime"
    export JUPYTER_PATH JUPYTER_RUNTIME_DIR
    rb_kernels=
    [ -f "$rb_env/kernel" ] && rb_kernels=$RB_KERNEL
    cd -- "$rb_root" || rb_fail no_notebook "cannot enter $rb_root"
    # shellcheck disable=SC2086 # rb_kernels: one kernel name (letters, digits, . _ -) or none
    rb_ready=$("$rb_py" "$rb_run/runner.py" prepare "$RB_NOTEBOOK" "$rb_run" "$RB_PARAMS" $rb_kernels 2>"$rb_run/prepare.log")
    case $rb_ready in
        '{"ok": true'*) ;;
        '{"ok": false'*) rb_answer "$rb_ready" && exit 3 ;;
        *) rb_fail runner_failed "the runner could not read $RB_NOTEBOOK" "$rb_run/prepare.log" ;;
    esac
    rb_user_locale # the kernel gets the user's locale, not the script's
    # Its own session, no tty, stdin from /dev/null: it outlives this ssh session (as the server does).
    set -- nohup "$rb_py" "$rb_run/runner.py" execute "$rb_run"
    command -v setsid >/dev/null 2>&1 && set -- setsid "$@"
    "$@" </dev/null >>"$rb_run/runner.log" 2>&1 &
    rb_put "$rb_run/pid" "$!" # setsid and nohup exec: the runner itself, which writes it again
    rb_answer "{\"ok\":true,\"action\":\"started\",\"python\":$(rb_str "$rb_py"),\"prepared\":$rb_ready,\"dir\":$(rb_str "$rb_run")}"
}

rb_locate
case $RB_ACTION in
    start) rb_start ;;
    status)
        [ -d "$rb_run" ] && [ -s "$rb_run/run.json" ] || rb_fail no_run "no run of $RB_NOTEBOOK on this host"
        rb_answer "{\"ok\":true,\"action\":\"status\",\"runs\":[$(rb_describe "$rb_run")]}"
        ;;
    follow)
        rb_py=
        read -r rb_py 2>/dev/null <"$rb_run/python" || :
        [ -s "$rb_run/run.json" ] && [ -x "$rb_py" ] || rb_fail no_run "no run of $RB_NOTEBOOK on this host"
        rb_log_mark
        exec "$rb_py" "$rb_run/runner.py" follow "$rb_run"
        ;;
    stop)
        [ -d "$rb_run" ] && [ -s "$rb_run/run.json" ] || rb_fail no_run "no run of $RB_NOTEBOOK on this host"
        rb_how=none
        for rb_sig in INT TERM KILL; do # ~30 s for the interrupt, the last save and the kernel's shutdown; 5 s each after
            rb_is_runner "$rb_run" || break
            kill "-$rb_sig" "$(rb_pid_of "$rb_run")" 2>/dev/null
            rb_how=$rb_sig
            n=0
            rb_max=100
            [ "$rb_sig" = INT ] && rb_max=600
            while rb_is_runner "$rb_run" && [ "$n" -lt "$rb_max" ]; do rb_nap; n=$((n + 1)); done
        done
        rb_answer "{\"ok\":true,\"action\":\"stop\",\"how\":\"$rb_how\",\"runs\":[$(rb_describe "$rb_run")]}"
        ;;
    list)
        rb_all='' n=0
        for rb_d in "$rb_runs"/*/; do
            [ -s "${rb_d}run.json" ] || continue
            n=$((n + 1))
            [ "$n" -le 1000 ] || break
            rb_all="$rb_all${rb_all:+,}$(rb_describe "${rb_d%/}")"
        done
        rb_answer "{\"ok\":true,\"action\":\"list\",\"runs\":[$rb_all]}"
        ;;
    *) rb_fail usage "unknown action $RB_ACTION" ;;
esac
