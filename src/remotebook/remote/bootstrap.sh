# remotebook bootstrap: find, start, query or stop this user's Jupyter server for one
# root dir, in one round trip; the answer is one JSON line after a marker line.
# POSIX sh. remotebook prepends the RB_* assignments, `set -- JUPYTER_ARGS...` and
# common.sh (rb_str, rb_fail, rb_activate...), every value quoted with shlex, so
# nothing here is interpolated from user input.
# shellcheck disable=SC2088,SC2015,SC2153,SC2154 # literal "~/" prefixes; A && B || fail is meant; RB_* come from the header; rb_root, rb_real from common.sh (rb_resolve_root, rb_judge)
rb_dirs() { # ROOT (canonical), D (per-server state dir), SOCK, ENV (made by `remotebook env`)
    rb_canonical_root || return 1
    rb_host=$(hostname 2>/dev/null || uname -n)
    rb_host=${rb_host%%.*}
    # Per host: a home on NFS is shared by many nodes, and a pid means nothing elsewhere.
    # shellcheck disable=SC2154 # rb_key: set by rb_canonical_root (common.sh)
    rb_dir="$HOME/.remotebook/$rb_host/$rb_key"
    # `remotebook password`: per project, not per host (a shared home serves every node), and
    # outside rb_dir, which `down --server` removes. Jupyter finds it on JUPYTER_CONFIG_PATH.
    rb_auth="$HOME/.remotebook/auth/$rb_key"
    rb_sock="$rb_dir/jupyter.sock"
    if [ "${#rb_sock}" -gt 100 ]; then # sockaddr_un holds ~104 bytes
        rb_sock="${TMPDIR:-/tmp}/rb-$(id -u)-$rb_key/jupyter.sock"
    fi
}

rb_alive() { # PID: running (a killed server nobody reaped yet, a zombie, is dead)
    kill -0 "$1" 2>/dev/null || return 1
    if [ -r /proc/self/stat ]; then
        read -r rb_st 2>/dev/null <"/proc/$1/stat" || return 1
        rb_st=${rb_st##*) } # comm may hold spaces and parentheses: the state follows the last ") "
    elif command -v ps >/dev/null 2>&1; then
        rb_st=$(ps -p "$1" -o stat= 2>/dev/null | tr -d ' ') || return 1
    else
        return 0 # kill -0 is all this host has; rb_is_server refuses to guess
    fi
    case $rb_st in Z* | X* | '') return 1 ;; esac
}

rb_is_server() { # PID: this dir's Jupyter? A recycled pid is someone else's program, whatever its name.
    rb_alive "$1" || return 1
    if [ -r /proc/self/stat ]; then
        # The bootstrap gave our server JUPYTER_RUNTIME_DIR; its exec-time environment still says so.
        if [ -r "/proc/$1/environ" ]; then
            tr '\000' '\n' 2>/dev/null <"/proc/$1/environ" | grep -Fqx -- "JUPYTER_RUNTIME_DIR=$rb_dir/runtime"
            return
        fi
        tr '\000' '\n' 2>/dev/null <"/proc/$1/cmdline" | grep -Fqx -- "--ServerApp.root_dir=$rb_root"
        return
    fi
    command -v ps >/dev/null 2>&1 ||
        rb_fail no_ps "cannot tell whether pid $1 is this project's Jupyter server: the remote has neither /proc nor ps"
    case " $(ps -ww -p "$1" -o args= 2>/dev/null) " in
        *" --ServerApp.root_dir=$rb_root "*) return 0 ;;
    esac
    return 1
}

rb_find_server() { # sets rb_pid to this dir's live server, else fails
    [ -f "$rb_dir/server.pid" ] || return 1
    rb_pid=
    read -r rb_pid 2>/dev/null <"$rb_dir/server.pid" || :
    case $rb_pid in '' | *[!0-9]*) return 1 ;; esac
    rb_is_server "$rb_pid"
}

rb_children() { # PID: its child processes (kernels): ps, or /proc/*/stat on a host without ps
    if command -v ps >/dev/null 2>&1; then
        ps -eo pid=,ppid= | awk -v p="$1" '$2 == p { print $1 }'
        return 0
    fi
    rb_parent=$1
    for rb_s in /proc/[0-9]*/stat; do
        read -r rb_l 2>/dev/null <"$rb_s" || continue
        # shellcheck disable=SC2086 # split on purpose: state ppid pgrp ... follow the last ") "
        set -- ${rb_l##*) }
        [ "${2:-}" = "$rb_parent" ] || continue
        rb_l=${rb_s#/proc/}
        printf '%s\n' "${rb_l%/stat}"
    done
}

rb_was_shut_down() { # the last server exited by itself: Jupyter removed its runtime info
    [ -f "$rb_dir/server.pid" ] || return 1
    read -r rb_old <"$rb_dir/server.pid" 2>/dev/null || :
    case $rb_old in '' | *[!0-9]*) return 1 ;; esac
    [ ! -e "$rb_dir/runtime/jpserver-$rb_old.json" ] # a crash (SIGKILL, OOM) leaves it behind
}

rb_info_file() { # Jupyter's own runtime info for that pid, once it is listening
    f="$rb_dir/runtime/jpserver-$1.json"
    [ -s "$f" ] && printf '%s' "$f"
}

rb_adopt_info() { # the runtime info in our private dir, whatever pid wrote it (a wrapper may fork)
    for rb_f in "$rb_dir"/runtime/jpserver-*.json; do
        [ -s "$rb_f" ] || continue
        rb_pid=${rb_f##*/jpserver-}
        rb_pid=${rb_pid%.json}
        rb_put "$rb_dir/server.pid" "$rb_pid"
        rb_info=$rb_f
        return 0
    done
    return 1
}

rb_wait_ready() { # PID: poll until Jupyter wrote its runtime info, it died, or the deadline
    rb_deadline=$(($(date +%s) + ${RB_TIMEOUT%.*}))
    while :; do
        rb_info=$(rb_info_file "$1") && return 0
        rb_adopt_info && return 0
        rb_alive "$1" || rb_fail server_died "Jupyter exited while starting" "$rb_dir/server.log"
        [ "$(date +%s)" -lt "$rb_deadline" ] || rb_fail start_timeout "Jupyter did not become ready within ${RB_TIMEOUT%.*}s" "$rb_dir/server.log"
        rb_nap
    done
}

rb_lock() { # one starter at a time per server dir; mkdir is atomic, also on NFS
    rb_deadline=$(($(date +%s) + ${RB_TIMEOUT%.*} + 10))
    until mkdir -- "$rb_dir/lock" 2>/dev/null; do
        rb_holder=$(cat -- "$rb_dir/lock/pid" 2>/dev/null)
        if [ -n "$rb_holder" ] && ! kill -0 "$rb_holder" 2>/dev/null; then
            rm -rf -- "$rb_dir/lock" # its owner died: the lock is stale
            continue
        fi
        [ "$(date +%s)" -lt "$rb_deadline" ] || rb_fail lock_busy "another remotebook is starting this server ($rb_dir/lock)"
        rb_nap
    done
    rb_put "$rb_dir/lock/pid" "$$"
    trap 'rm -rf -- "$rb_dir/lock"' EXIT
}

rb_report() { # ACTION PID: the answer for a running server
    rb_transport='' rb_kt='' rb_warning='' rb_durable=''
    read -r rb_transport 2>/dev/null <"$rb_dir/transport" || :
    read -r rb_durable 2>/dev/null <"$rb_dir/durable" || :
    read -r rb_kt 2>/dev/null <"$rb_dir/kernel_transport" || : # servers of older remotebooks: tcp
    [ -f "$rb_dir/warning" ] && read -r rb_warning <"$rb_dir/warning"
    rb_pw=false
    [ -f "$rb_dir/password" ] && rb_pw=true # the server was started with the project's password
    rb_answer "{\"ok\":true,\"action\":$(rb_str "$1"),\"pid\":$2,\"password\":$rb_pw,\"dir\":$(rb_str "$rb_dir"),\"log\":$(rb_str "$rb_dir/server.log"),\"root_dir\":$(rb_str "$rb_root"),\"host\":$(rb_str "$rb_host"),\"transport\":$(rb_str "$rb_transport"),\"kernel_transport\":$(rb_str "${rb_kt:-tcp}"),\"warning\":$(rb_str "$rb_warning"),\"durable\":$([ "$rb_durable" = yes ] && echo true || echo false),\"info\":$(tr "\n" " " <"$rb_info")}"
}

rb_token_config() { # the Jupyter config files that mention a token: where one set to "" likely is
    [ -n "${rb_py:-}" ] || read -r rb_py 2>/dev/null <"$rb_dir/python" || :
    for rb_c in "${JUPYTER_CONFIG_DIR:-$HOME/.jupyter}" "${rb_py%/bin/*}/etc/jupyter" /usr/local/etc/jupyter /etc/jupyter; do
        for rb_f in "$rb_c"/jupyter_server_config.py "$rb_c"/jupyter_server_config.json \
            "$rb_c"/jupyter_notebook_config.py "$rb_c"/jupyter_notebook_config.json "$rb_c"/jupyter_server_config.d/*.json; do
            [ -f "$rb_f" ] && grep -Eqs '^[[:space:]]*[^#[:space:]].*token' -- "$rb_f" && printf '%s\n' "$rb_f"
        done
    done | head -n 3 | tr '\n' ' '
}

rb_check_auth() { # the server must use remotebook's token: else it is stopped and refused (auth_off)
    rb_tok=
    read -r rb_tok 2>/dev/null <"$rb_dir/token" || :
    # Jupyter's own word on the token it checks (jpserver-PID.json: indent=2, sorted keys)
    rb_used=$(sed -n 's/^  "token": "\([^"]*\)",\{0,1\}$/\1/p' -- "$rb_info")
    [ -n "$rb_used" ] && [ "$rb_used" = "$rb_tok" ] && return 0
    rb_why="Jupyter runs without a token, so anyone who reaches it could run code"
    [ -n "$rb_used" ] && rb_why="Jupyter uses another token than the one remotebook gave it"
    rb_cfg=$(rb_token_config)
    if [ -n "$rb_cfg" ]; then
        rb_why="$rb_why: a Jupyter config sets the token (look for a token set to \"\" in ${rb_cfg% })"
    else
        rb_why="$rb_why: likely a Jupyter config that sets c.ServerApp.token = \"\" (\`jupyter --paths\` lists the config dirs)"
    fi
    rb_kill_server "$1"
    rm -rf -- "$rb_dir/runtime" "$rb_dir/token" "$rb_dir/server.pid" "$rb_sock"
    rb_fail auth_off "$rb_why; remotebook stopped that server"
}

rb_find_jupyter() { # [soft]: sets JUP (the jupyter executable), PY (its python), SOURCE (env, profile, path; soft: none)
    rb_activate "$rb_dir/setup.log"
    # shellcheck disable=SC2154 # rb_env: set by rb_canonical_root (common.sh)
    if [ -n "$RB_JUPYTER" ]; then
        rb_source=profile
        rb_jup=$(rb_abs "$RB_JUPYTER")
        [ -x "$rb_jup" ] || rb_fail no_jupyter "jupyter = $rb_jup is not an executable file on the remote"
    elif [ -z "$RB_VENV$RB_CONDA_ENV" ] && [ -x "$rb_env/bin/jupyter-server" ]; then
        # `remotebook env --jupyter` put a Jupyter server in this project's env (bin/jupyter
        # alone is not one: ipykernel brings jupyter_core's)
        rb_source="env"
        rb_jup="$rb_env/bin/jupyter"
    else
        rb_source=path
        [ -n "$RB_VENV$RB_CONDA_ENV" ] && rb_source=profile
        rb_jup=$(command -v jupyter 2>/dev/null) || {
            [ "${1:-}" = soft ] && [ "$rb_source" = path ] && rb_source=none rb_jup='' rb_py='' && return 0
            command -v python3 >/dev/null 2>&1 || command -v python >/dev/null 2>&1 ||
                rb_fail no_python "no python3 and no jupyter on the remote PATH (login shell)"
            rb_fail no_jupyter "python3 is there but jupyter is not on the remote PATH (login shell)"
        }
    fi
    # The interpreter is the script's shebang (pip writes a /bin/sh trampoline for long paths).
    rb_py=$(head -n 1 -- "$rb_jup" 2>/dev/null | sed -n 's/^#![[:space:]]*//p')
    case $rb_py in
        */env\ *) rb_py=$(command -v "${rb_py##* }" 2>/dev/null) ;;
        /bin/sh* | '')
            rb_line=$(sed -n 2p -- "$rb_jup" 2>/dev/null)
            case $rb_line in "'''exec' "*) rb_py=${rb_line#"'''exec' "} ;; *) rb_py= ;; esac
            rb_py=$(printf '%s' "${rb_py%% *}" | tr -d '"')
            ;;
        *\ *) rb_py=${rb_py%% *} ;;
    esac
    [ -n "$rb_py" ] && [ -x "$rb_py" ] || rb_py=$(command -v python3 2>/dev/null) || rb_fail no_python "cannot find the python that runs $rb_jup"
}

rb_check_versions() { # one light python call: jupyter_server version, the app, --sock, kernels over ipc
    rb_vers=$("$rb_py" - "$RB_APP" <<'PYEOF' 2>/dev/null
import importlib.util, os, sys
try:
    import jupyter_server
except ImportError:
    print("none"); sys.exit()
app = {"lab": "jupyterlab", "notebook": "notebook"}[sys.argv[1]]
major, minor = (int(part) for part in jupyter_server.__version__.split(".")[:2])
sock = (major, minor) >= (1, 15)  # ServerApp.sock arrived in jupyter_server 1.15
def ipc():  # kernels over ZMQ unix sockets: libzmq built with ipc, jupyter_client 5+, ipykernel 4+
    try:
        from importlib.metadata import version
        import zmq
        client, kernel = (int(version(name).split(".")[0]) for name in ("jupyter_client", "ipykernel"))
        return os.name == "posix" and zmq.has("ipc") and client >= 5 and kernel >= 4
    except Exception:
        return False
print(jupyter_server.__version__, "yes" if importlib.util.find_spec(app) else "no", "sock" if sock else "tcp",
      "ipc" if ipc() else "tcp")
PYEOF
    )
    case $rb_vers in
        '' | none) rb_fail no_jupyter_server "$rb_jup runs $rb_py, which has no jupyter_server (Jupyter 4 or newer is needed)" ;;
        *\ no\ *) rb_fail no_app "the $RB_APP app is not installed beside $rb_jup" ;;
    esac
}

rb_durable_versions() { # PINS...: {"versions": {name: version or ""}, "lacks": [names absent or of another major.minor]}
    "$rb_py" - "$@" <<'PYEOF' 2>/dev/null
import json, sys
try:
    from importlib.metadata import version
except ImportError:  # Python < 3.8
    version = None
found, lacks = {}, []
for pin in sys.argv[1:] + ["jupyter-server-ydoc==", "jupyter-server-fileid=="]:
    name, want = pin.split("==")
    try:
        found[name] = version(name) if version else ""
    except Exception:
        found[name] = ""
    if want and found[name].split(".")[:2] != want.split(".")[:2]:
        lacks.append(name)
print(json.dumps({"versions": found, "lacks": lacks}))
PYEOF
}

rb_durable_args() { # JUPYTER_ARGS... -> sets rb_dargs: durable settings, the extensions' stores in the state dir
    # shellcheck disable=SC2086 # RB_DURABLE_PINS is a word list of name==version
    rb_dv=$(rb_durable_versions $RB_DURABLE_PINS)
    rb_durable=no
    case $rb_dv in
        *'"lacks": []'*) [ "$RB_DURABLE" = yes ] && rb_durable=yes ;;
        *) [ "$RB_DURABLE" = yes ] && rb_fail durable_missing "durable outputs need $RB_DURABLE_PINS beside $rb_jup, and $rb_py lacks them (or has other versions)" ;;
    esac
    rb_dargs=
    case $rb_dv in
        *'"jupyter-server-ydoc": ""'*) ;;
        *'"jupyter-server-ydoc"'*) # jupyter-collaboration is there: its stores never go into the notebook root
            rb_dargs="--SQLiteYStore.db_path=$rb_dir/ystore.db
--BaseFileIdManager.db_path=$rb_dir/file_id.db
--YDocExtension.session_store_path=$rb_dir/collaboration_sessions.json"
            ;;
    esac
    # Rooms never expire (else a notebook is left half-written 60 s after the last tab closed),
    # and the browser's cells run on the server, which writes their outputs into the saved model.
    [ "$rb_durable" = yes ] && rb_dargs="$rb_dargs
--YDocExtension.document_cleanup_delay=None
--YDocExtension.server_side_execution=True"
    return 0
}

rb_kernel_transport() { # JUPYTER_ARGS...: sets rb_kt, ipc (ZMQ over unix sockets in the 0700 runtime dir) where it works
    rb_kt=tcp
    case $rb_vers in *\ ipc) rb_kt=ipc ;; esac
    # jupyter_client names the sockets <runtime>/kernel-<uuid>-ipc-<n>; sockaddr_un holds 107 bytes
    rb_ksock="$rb_dir/runtime/kernel-00000000-0000-0000-0000-000000000000-ipc-99"
    [ "${#rb_ksock}" -le 107 ] || rb_kt=tcp
    rb_kt_own=yes
    for rb_a in "$@"; do # the profile's jupyter_args have the last word
        case $rb_a in --KernelManager.transport=*) rb_kt=${rb_a#*=} rb_kt_own=no ;; esac
    done
}

rb_logout_guard() { # where logind kills a user's processes at logout: a scope, or a warning
    rb_scope=no
    rm -f -- "$rb_dir/warning"
    command -v loginctl >/dev/null 2>&1 || return 0
    rb_kill=$(busctl get-property org.freedesktop.login1 /org/freedesktop/login1 \
        org.freedesktop.login1.Manager KillUserProcesses 2>/dev/null)
    [ "$rb_kill" = "b true" ] || return 0
    # A scope of the user's own systemd survives the end of this ssh session; the user
    # manager itself survives the last session only with lingering on.
    if command -v systemd-run >/dev/null 2>&1 && systemd-run --user --scope --quiet true >/dev/null 2>&1; then
        rb_scope=yes
    fi
    if [ "$(loginctl show-user "$(id -un)" --property=Linger --value 2>/dev/null)" != yes ]; then
        rb_put "$rb_dir/warning" "this host stops your processes when you log out (systemd KillUserProcesses=yes): Jupyter ends with your last ssh session unless you run \`loginctl enable-linger\` there once"
    fi
}

rb_server_env() { # the server's environment: this project's kernels, the user's locale, the private runtime dir
    # The env's kernelspec is found through JUPYTER_PATH, so only this project's servers see
    # it (another project's folder may have the same name), also when `env` runs later.
    JUPYTER_PATH="$rb_env/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
    # The token reaches it through a 0600 file named in the environment, never argv.
    JUPYTER_RUNTIME_DIR="$rb_dir/runtime" JUPYTER_TOKEN_FILE="$rb_dir/token"
    export JUPYTER_PATH JUPYTER_RUNTIME_DIR JUPYTER_TOKEN_FILE
    if [ -f "$rb_auth/jupyter_server_config.json" ]; then
        # First on the path, so it wins over a password in ~/.jupyter; the hash never goes on argv.
        JUPYTER_CONFIG_PATH="$rb_auth${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"
        export JUPYTER_CONFIG_PATH
    fi
    rb_user_locale # notebooks and kernels get the user's locale and umask, not the script's
}

rb_run() { # SERVER-ARGV...: how the server runs; sets rb_pid
    if [ "${RB_RUN:-detached}" = foreground ]; then
        # Inside a batch job the server is the job's step: this shell becomes it. The login
        # node (remote/slurm.sh) reads these files on the shared home: the job file tells
        # them from an earlier job's on this node.
        rb_put "$rb_dir/server.pid" "$$"
        rb_put "$rb_dir/job" "${SLURM_JOB_ID:-}"
        trap - EXIT
        rm -rf -- "$rb_dir/lock"
        cd -- "$rb_root" || exit 1
        rb_server_env
        exec "$@" </dev/null >>"$rb_dir/server.log" 2>&1
    fi
    # Its own session, no tty, stdin from /dev/null: it outlives this ssh session.
    command -v setsid >/dev/null 2>&1 && set -- setsid "$@"
    [ "$rb_scope" = yes ] && set -- systemd-run --user --scope --quiet --collect -- "$@"
    (
        cd -- "$rb_root" || exit 1
        rb_server_env
        exec nohup "$@" </dev/null >>"$rb_dir/server.log" 2>&1
    ) &
    rb_pid=$!
}

rb_start() {
    # Never a server without a token: none given, or a token file that did not get written (disk full)
    [ -n "$RB_TOKEN" ] || rb_fail auth_off "remotebook sent no token, and it never starts Jupyter without one"
    rb_find_jupyter
    rb_check_versions
    rb_logout_guard
    rb_transport=$RB_TRANSPORT
    if [ "$rb_transport" = auto ]; then
        # A server too old for --sock listens on 127.0.0.1 (Jupyter picks a free port).
        case $rb_vers in *\ sock\ *) rb_transport=unix ;; *) rb_transport=tcp ;; esac
    fi
    rb_kernel_transport "$@"
    rb_durable_args
    rb_private_dir "$rb_dir/runtime" || rb_fail state_dir "cannot create a private dir $rb_dir/runtime"
    rm -f -- "$rb_dir"/runtime/jpserver-*.json "$rb_dir"/runtime/jpserver-*-open.html
    rb_put "$rb_dir/token" "$RB_TOKEN" || :
    rb_tok=
    read -r rb_tok 2>/dev/null <"$rb_dir/token" || :
    [ "$rb_tok" = "$RB_TOKEN" ] || rb_fail auth_off "the token file $rb_dir/token did not get written whole (disk full?), and remotebook never starts Jupyter without a token"
    rb_put "$rb_dir/transport" "$rb_transport" && rb_put "$rb_dir/kernel_transport" "$rb_kt" &&
        rb_put "$rb_dir/python" "$rb_py" && rb_put "$rb_dir/durable" "$rb_durable" && rb_put "$rb_dir/server.log" "" ||
        rb_fail state_dir "cannot write to $rb_dir (disk full?)"
    rm -f -- "$rb_dir/password"
    [ -f "$rb_auth/jupyter_server_config.json" ] && rb_put "$rb_dir/password" yes
    if [ "$rb_transport" = unix ]; then
        rb_private_dir "${rb_sock%/*}" || rb_fail state_dir "cannot create a private dir ${rb_sock%/*}"
        rm -f -- "$rb_sock" # a socket left by a crash would block the bind
        set -- --sock="$rb_sock" --sock-mode=0600 "$@"
    else
        rb_bind=${RB_BIND:-127.0.0.1}
        if [ "$rb_bind" = slurm-node ]; then # tunnel = "tcp" in a batch job: the node's address as Slurm knows it
            rb_bind=$(scontrol -o show node "${SLURMD_NODENAME:-$rb_host}" 2>/dev/null | sed -n 's/.* NodeAddr=\([^ ]*\).*/\1/p')
            [ -n "$rb_bind" ] || rb_fail no_node_address "cannot find this node's address (scontrol show node ${SLURMD_NODENAME:-$rb_host})"
        fi
        set -- "--ip=$rb_bind" "$@"
    fi
    [ "$rb_kt" = ipc ] && [ "$rb_kt_own" = yes ] && set -- --KernelManager.transport=ipc "$@"
    [ "$(id -u)" = 0 ] && set -- --allow-root "$@"
    if [ -n "$rb_dargs" ]; then # before the profile's jupyter_args, which win
        rb_ifs=$IFS
        IFS='
'
        # shellcheck disable=SC2086 # one argument per line
        set -- $rb_dargs "$@"
        IFS=$rb_ifs
    fi
    # This project's env (`remotebook env`) is the default kernel; the profile's args come later and win.
    [ -f "$rb_env/kernel" ] && set -- "--MappingKernelManager.default_kernel_name=$RB_KERNEL" "$@"
    set -- "$rb_jup" "$RB_APP" --no-browser "--ServerApp.root_dir=$rb_root" "$@"
    rb_run "$@"
    rb_put "$rb_dir/server.pid" "$rb_pid"
    rb_wait_ready "$rb_pid"
    rb_check_auth "$rb_pid"
    rb_report started "$rb_pid"
}

rb_api_shutdown() { # INFO-FILE: POST /api/shutdown with the server's token; fails unless Jupyter said yes
    rb_py=$(cat -- "$rb_dir/python" 2>/dev/null) && [ -x "$rb_py" ] || return 1
    "$rb_py" - "$1" <<'PYEOF' >/dev/null 2>&1
import http.client, json, socket, sys
info = json.load(open(sys.argv[1]))
class Conn(http.client.HTTPConnection):
    def connect(self):
        if info.get("sock"):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(5)
            self.sock.connect(info["sock"])
        else:
            super().connect()
conn = Conn("127.0.0.1", info.get("port") or 80, timeout=5)
conn.request("POST", "/api/shutdown", headers={"Authorization": "token " + info["token"], "Host": "localhost"})
sys.exit(0 if conn.getresponse().status < 300 else 1)
PYEOF
}

rb_kill_server() { # PID: shutdown API, then TERM, then KILL (kernels too), each with a bounded wait; sets rb_how
    rb_kids=$(rb_children "$1")
    rb_how=TERM # a server that refused the API (auth off: no xsrf cookie) goes straight to TERM
    rb_info=$(rb_info_file "$1") && rb_api_shutdown "$rb_info" && rb_how=api
    for rb_sig in none TERM KILL; do
        if [ "$rb_sig" = none ]; then
            [ "$rb_how" = api ] || continue
        else
            # shellcheck disable=SC2086 # $rb_kids is a list of pids
            kill "-$rb_sig" "$1" $rb_kids 2>/dev/null
            rb_how=$rb_sig
        fi
        n=0
        while rb_alive "$1" && [ "$n" -lt 100 ]; do rb_nap; n=$((n + 1)); done # ~5 s
        rb_alive "$1" || break
    done
    # A server stopped by signal may leave its kernels (their own sessions) behind.
    [ "$rb_how" = api ] || for k in $rb_kids; do kill -KILL "$k" 2>/dev/null; done
}

rb_stop() {
    if ! rb_find_server; then # nothing of ours runs: a recycled pid is left alone
        rm -rf -- "$rb_dir" "${rb_sock%/*}" 2>/dev/null
        rb_answer '{"ok":true,"action":"not_running"}'
        return 0
    fi
    rb_kill_server "$rb_pid"
    rm -rf -- "$rb_dir" "${rb_sock%/*}" 2>/dev/null
    rb_answer "{\"ok\":true,\"action\":\"stopped\",\"pid\":$rb_pid,\"how\":\"$rb_how\"}"
}

rb_password_set() { # hash RB_PASSWORD with the server's own jupyter_server, into rb_auth (0600)
    rb_find_jupyter
    set +x # setup may have turned tracing on: nothing below may print the clear text
    rb_private_dir "$rb_auth" || rb_fail state_dir "cannot create a private dir $rb_auth"
    # The clear text reaches python on fd 3 through a pipe from printf (a builtin): never argv,
    # never the environment, never a file (bash < 5.1 writes here-documents to a temp file,
    # so only the program, not the secret, goes through one).
    rb_alg=$(printf '%s\n' "$RB_PASSWORD" | "$rb_py" - "$rb_auth/jupyter_server_config.json" 3<&0 2>"$rb_dir/password.log" <<'PYEOF'
import json, os, sys
try:
    import jupyter_server
    from jupyter_server.auth import passwd
except ImportError as e:
    sys.exit("this python has no jupyter_server: %s" % e)
with os.fdopen(3) as f:
    secret = f.read()[:-1]  # printf's newline
hashed = passwd(secret)  # Jupyter's default algorithm (argon2), as `jupyter server password` does
if int(jupyter_server.__version__.split(".")[0]) >= 2:
    config = {"PasswordIdentityProvider": {"hashed_password": hashed, "allow_password_change": False}}
else:  # jupyter_server 1 reads it from ServerApp
    config = {"ServerApp": {"password": hashed, "allow_password_change": False}}
path = sys.argv[1]
fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as out:
    json.dump(config, out)
os.replace(path + ".new", path)
print(hashed.split(":", 1)[0])
PYEOF
    ) || rb_fail no_jupyter "could not hash the password with $rb_py" "$rb_dir/password.log"
    # Beside the hash, loaded with it: the login form locks after repeated wrong passwords (remote/login_limit.py)
    rb_put "$rb_auth/jupyter_server_config.py" "${RB_LOGIN_LIMIT:-}" || rb_fail state_dir "cannot write to $rb_auth (disk full?)"
    rm -f -- "$rb_dir/password.log"
    rb_running=false
    rb_find_server && rb_running=true
    rb_answer "{\"ok\":true,\"action\":\"password_set\",\"algorithm\":$(rb_str "$rb_alg"),\"running\":$rb_running,\"file\":$(rb_str "$rb_auth/jupyter_server_config.json")}"
}

rb_password_clear() {
    rb_had=false
    [ -f "$rb_auth/jupyter_server_config.json" ] && rb_had=true
    rm -rf -- "$rb_auth" || rb_fail state_dir "cannot remove $rb_auth"
    rb_running=false
    rb_find_server && rb_running=true
    rb_answer "{\"ok\":true,\"action\":\"password_cleared\",\"had\":$rb_had,\"running\":$rb_running}"
}

rb_resolve_root
case $RB_ACTION in
    ensure)
        mkdir -p -- "$rb_root" 2>/dev/null || rb_fail root_not_writable "cannot create remote_dir $rb_root"
        [ -d "$rb_root" ] && [ -w "$rb_root" ] || rb_fail root_not_writable "remote_dir $rb_root is not a writable directory"
        rb_dirs || rb_fail root_not_writable "cannot enter remote_dir $rb_root"
        rb_private_dir "$rb_dir" || rb_fail state_dir "cannot create a private dir $rb_dir"
        if [ "${RB_RUN:-detached}" = foreground ]; then # a batch job: its token waits in the job's private dir
            RB_TOKEN=
            read -r RB_TOKEN 2>/dev/null <"$HOME/.remotebook/jobs/$rb_key/token" || : # no newline at its end
        fi
        rb_lock
        if rb_find_server; then
            rb_wait_ready "$rb_pid" # it may still be starting (another `up` began it)
            rb_check_auth "$rb_pid"
            rb_report running "$rb_pid"
        elif [ "$RB_RESTART" != yes ] && rb_was_shut_down; then
            rb_fail shut_down "the Jupyter server was shut down (from Jupyter's menu, or idle_timeout)"
        else
            rb_start "$@"
        fi
        ;;
    durable) # which Jupyter `up` would start, and the versions of the durable-outputs extensions beside it
        mkdir -p -- "$rb_root" 2>/dev/null || rb_fail root_not_writable "cannot create remote_dir $rb_root"
        rb_dirs || rb_fail root_not_writable "cannot enter remote_dir $rb_root"
        rb_made=no
        [ -d "$rb_dir" ] || rb_made=yes
        rb_private_dir "$rb_dir" || rb_fail state_dir "cannot create a private dir $rb_dir"
        rb_find_jupyter soft
        rb_dv='{}'
        # shellcheck disable=SC2086 # RB_DURABLE_PINS is a word list of name==version
        [ -n "$rb_py" ] && rb_dv=$(rb_durable_versions $RB_DURABLE_PINS)
        [ -n "$rb_dv" ] || rb_dv='{}'
        [ "$rb_made" = yes ] && rm -rf -- "$rb_dir" # a look leaves no server dir behind (a refused `up` neither)
        rb_answer "{\"ok\":true,\"action\":\"durable\",\"jupyter\":$(rb_str "$rb_jup"),\"python\":$(rb_str "$rb_py"),\"source\":$(rb_str "$rb_source"),\"check\":$rb_dv}"
        ;;
    query)
        if [ -d "$rb_root" ] && rb_dirs && rb_find_server && rb_info=$(rb_info_file "$rb_pid"); then
            rb_check_auth "$rb_pid"
            rb_report running "$rb_pid"
        else
            rb_answer "{\"ok\":true,\"action\":\"not_running\",\"root_dir\":$(rb_str "$rb_root")}"
        fi
        ;;
    stop)
        if [ -d "$rb_root" ] && rb_dirs; then
            rb_stop
        else
            rb_answer '{"ok":true,"action":"not_running"}'
        fi
        ;;
    logs)
        [ -d "$rb_root" ] && rb_dirs && [ -f "$rb_dir/server.log" ] || rb_fail no_log "no server log for $rb_root on this host"
        rb_log_mark # what the login shell printed before this line is not the server's log
        if [ "$RB_FOLLOW" = yes ]; then exec tail -n "$RB_LINES" -f -- "$rb_dir/server.log"; fi
        exec tail -n "$RB_LINES" -- "$rb_dir/server.log"
        ;;
    password_set | password_clear)
        [ -d "$rb_root" ] || mkdir -p -- "$rb_root" 2>/dev/null || rb_fail root_not_writable "cannot create remote_dir $rb_root"
        rb_dirs || rb_fail root_not_writable "cannot enter remote_dir $rb_root"
        rb_private_dir "$rb_dir" || rb_fail state_dir "cannot create a private dir $rb_dir"
        if [ "$RB_ACTION" = password_set ]; then rb_password_set; else rb_password_clear; fi
        ;;
    *) rb_fail usage "unknown action $RB_ACTION" ;;
esac
