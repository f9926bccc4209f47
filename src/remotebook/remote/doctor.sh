# remotebook doctor: every remote check in one round trip, answered as one JSON line.
# Nothing here fails the call: each finding is reported and remotebook judges it.
#   check: the login shell, python, Jupyter, remote_dir, disk and quota, rsync, linger,
#          the clock, Slurm's commands; and a short-lived listener (a unix socket and a
#          TCP port on 127.0.0.1) that remotebook then reaches through the ssh master,
#          to prove that this sshd forwards both.
# shellcheck disable=SC2088,SC2015,SC2153,SC2154 # literal "~/" prefixes; A && B || fail is meant; RB_* come from the header; rb_env comes from rb_canonical_root
rb_now=$(date +%s)
rb_out="\"now\":$rb_now,\"shell\":$(rb_str "${SHELL:-}")"
rb_add() { rb_out="$rb_out,\"$1\":$(rb_str "$2")"; } # KEY VALUE: one more finding

# The profile's venv / conda env / setup, as the bootstrap runs them; a failure is a finding.
rb_env_error=
rb_fail() { rb_env_error="$1: $2"; return 1; }
rb_private_dir "$HOME/.remotebook" || rb_add state_dir "cannot create a private ~/.remotebook"
rb_activate "$HOME/.remotebook/doctor-setup.log" || true
rb_add env_error "$rb_env_error"

rb_root=$(rb_abs "$RB_ROOT")
rb_judge "$rb_root" # the home or a settings folder of it: reported (up, sync, env, run refuse it)
rb_add root_risk "$rb_why"
rb_add root_ok "${RB_ROOT_OK-no}"
if [ -d "$rb_root" ]; then
    rb_add root_exists yes
    if [ -w "$rb_root" ]; then rb_add root_writable yes; else rb_add root_writable no; fi
    rb_near=$rb_root
else
    rb_add root_exists no
    rb_near=$rb_root # the nearest existing parent is where it would be made
    rb_i=0
    while [ ! -d "$rb_near" ] && [ "$rb_i" -lt 64 ]; do rb_near=$(dirname -- "$rb_near") rb_i=$((rb_i + 1)); done
    if [ -w "$rb_near" ]; then rb_add root_writable yes; else rb_add root_writable no; fi
fi
rb_add root "$rb_root"
rb_add disk "$(df -Pk -- "$rb_near" 2>/dev/null | sed -n 2p)"
if command -v quota >/dev/null 2>&1; then rb_add quota "$(quota -q 2>/dev/null | head -n 3 | tr '\n' ' ')"; fi

if [ -n "$RB_JUPYTER" ]; then
    rb_jup=$(rb_abs "$RB_JUPYTER")
    [ -x "$rb_jup" ] || rb_jup=
elif [ -z "$RB_VENV$RB_CONDA_ENV" ] && [ -d "$rb_root" ] && rb_canonical_root && [ -x "$rb_env/bin/jupyter-server" ]; then
    rb_jup="$rb_env/bin/jupyter" # `remotebook env --jupyter` put one in this project's env
else
    rb_jup=$(command -v jupyter 2>/dev/null) || rb_jup=
fi
rb_add jupyter "$rb_jup"
rb_py=
if [ -n "$rb_jup" ]; then # the interpreter in its shebang (an env or a plain path)
    rb_py=$(head -n 1 -- "$rb_jup" 2>/dev/null | sed -n 's/^#![[:space:]]*//p')
    case $rb_py in
        */env\ *) rb_py=$(command -v "${rb_py##* }" 2>/dev/null) ;;
        *\ *) rb_py=${rb_py%% *} ;;
    esac
    [ -x "$rb_py" ] || rb_py=
fi
[ -n "$rb_py" ] || rb_py=$(command -v python3 2>/dev/null) || rb_py=
rb_add python "$rb_py"
if [ -n "$rb_py" ]; then
    rb_add python_version "$("$rb_py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)"
    rb_add versions "$("$rb_py" - "$RB_APP" <<'PYEOF' 2>/dev/null
import importlib.util, os, sys
try:
    import jupyter_server
except ImportError:
    print("none"); sys.exit()
app = {"lab": "jupyterlab", "notebook": "notebook"}[sys.argv[1]]
major, minor = (int(part) for part in jupyter_server.__version__.split(".")[:2])
def ipc():
    try:
        from importlib.metadata import version
        import zmq
        client, kernel = (int(version(name).split(".")[0]) for name in ("jupyter_client", "ipykernel"))
        return os.name == "posix" and zmq.has("ipc") and client >= 5 and kernel >= 4
    except Exception:
        return False
print(jupyter_server.__version__, "yes" if importlib.util.find_spec(app) else "no",
      "sock" if (major, minor) >= (1, 15) else "tcp", "ipc" if ipc() else "tcp")
PYEOF
    )"
    # The listener: binds both, prints the TCP port, then answers each connection once for 15 s at most.
    rb_lsock="$HOME/.remotebook/doctor-$RB_NONCE.sock"
    [ "${#rb_lsock}" -le 100 ] || rb_lsock="${TMPDIR:-/tmp}/rb-doctor-$RB_NONCE.sock"
    rb_lport=$("$rb_py" - "$rb_lsock" <<'PYEOF' 2>/dev/null
import os, select, socket, sys, time
path = sys.argv[1]
unix = socket.socket(socket.AF_UNIX)
old = os.umask(0o077)
unix.bind(path)
os.umask(old)
tcp = socket.socket()
tcp.bind(("127.0.0.1", 0))
for s in (unix, tcp):
    s.listen(2)
print(tcp.getsockname()[1], flush=True)
if os.fork():
    os._exit(0)
os.setsid()
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
deadline, left = time.monotonic() + 15, {unix, tcp}
while left and time.monotonic() < deadline:
    for s in select.select(list(left), [], [], max(0.0, deadline - time.monotonic()))[0]:
        conn, _ = s.accept()
        conn.sendall(b"remotebook-doctor\n")
        conn.close()
        left.discard(s)
os.unlink(path)
PYEOF
    )
    rb_add listen_sock "$rb_lsock"
    rb_add listen_port "$rb_lport"
fi
rb_add rsync "$(rsync --version 2>/dev/null | head -n 1)"
rb_add kill_user_processes "$(busctl get-property org.freedesktop.login1 /org/freedesktop/login1 \
    org.freedesktop.login1.Manager KillUserProcesses 2>/dev/null)"
rb_add linger "$(loginctl show-user "$(id -un)" --property=Linger --value 2>/dev/null)"
rb_add sbatch "$(command -v sbatch 2>/dev/null)"
rb_add squeue "$(command -v squeue 2>/dev/null)"
rb_answer "{\"ok\":true,$rb_out}"
