# remotebook env: look at, or build, this project's own Python env on the remote (uv when
# it is on PATH, else python3 -m venv + pip), with ipykernel and a kernelspec in it.
# POSIX sh. remotebook prepends the RB_* assignments and common.sh, every value quoted
# with shlex; the answer is one JSON line after a marker line.
#   probe:   python3 and its version, uv, the env's state and the hash of what it holds
#   install: create or update the env; a brand-new env that fails is removed entirely
# shellcheck disable=SC2088,SC2015,SC2153,SC2154 # literal "~/" prefixes; A && B || fail is meant; RB_* come from the header; rb_root, rb_real from common.sh (rb_resolve_root, rb_judge)

rb_tmp=
rb_lock=
# shellcheck disable=SC2154 # rb_env: set by rb_canonical_root (common.sh)
rb_cleanup() {
    [ -n "$rb_tmp" ] && rm -rf -- "$rb_tmp"
    [ -n "$rb_lock" ] && rm -rf -- "$rb_lock"
    [ "$RB_ACTION$RB_WHEELS" = installyes ] && rm -rf -- "$rb_env.wheels" # pushed for this run only
}
trap rb_cleanup EXIT

rb_locate() { # the project dir (made if needed, as `up` does), its key, the env dir, a scratch dir
    rb_resolve_root
    mkdir -p -- "$rb_root" 2>/dev/null || rb_fail root_not_writable "cannot create remote_dir $rb_root"
    rb_canonical_root || rb_fail root_not_writable "cannot enter remote_dir $rb_root"
    rb_tmp=$(mktemp -d 2>/dev/null) || rb_fail state_dir "cannot create a temporary dir on the remote"
}

rb_base_python() { # PY: python3 after the profile's venv/conda/setup; VER: what it says it is; UV
    rb_activate "$rb_tmp/setup.log"
    rb_py=$(command -v python3 2>/dev/null) || rb_py=
    rb_ver=
    [ -n "$rb_py" ] && rb_ver=$("$rb_py" -V 2>&1 | head -n 1)
    rb_uv=$(command -v uv 2>/dev/null) || rb_uv=
}

rb_wheel_facts() { # for `env --wheels`: what the local `pip download` must ask for
    "$rb_py" - <<'PYEOF' 2>/dev/null
import json, platform, sys, sysconfig
tags = None
for name in ("pip._vendor.packaging.tags", "packaging.tags"):
    try:
        tags = __import__(name, fromlist=["sys_tags"])
        break
    except ImportError:
        pass
libc = platform.libc_ver()
facts = {"version": "%d.%d" % sys.version_info[:2], "implementation": sys.implementation.name,
         "platform": sysconfig.get_platform(), "glibc": libc[1] if libc[0] == "glibc" else ""}
if tags is not None:
    facts["platforms"], facts["abis"] = [], []
    for tag in tags.sys_tags():
        for key, value in (("platforms", tag.platform), ("abis", tag.abi)):
            if value not in facts[key]:
                facts[key].append(value)
print(json.dumps(facts))
PYEOF
}

rb_probe() {
    rb_base_python
    rb_wheel=
    [ "$RB_TAGS" = yes ] && [ -n "$rb_py" ] && rb_wheel=$(rb_wheel_facts)
    rb_hash=
    [ -f "$rb_env/requirements.sha256" ] && read -r rb_hash <"$rb_env/requirements.sha256"
    rb_ready=false
    [ -x "$rb_env/bin/python" ] && rb_ready=true
    rb_kernel=false
    [ -f "$rb_env/kernel" ] && rb_kernel=true
    rb_answer "{\"ok\":true,\"action\":\"probe\",\"python\":$(rb_str "$rb_py"),\"python_version\":$(rb_str "$rb_ver"),\"uv\":$(rb_str "$rb_uv"),\"env\":$(rb_str "$rb_env"),\"ready\":$rb_ready,\"kernel\":$rb_kernel,\"hash\":$(rb_str "$rb_hash"),\"wheel\":${rb_wheel:-null}}"
}

rb_lock_env() { # one install per env at a time; mkdir is atomic, also on NFS
    rb_private_dir "${rb_env%/*}" || rb_fail state_dir "cannot create a private dir ${rb_env%/*}"
    if ! mkdir -- "$rb_env.lock" 2>/dev/null; then
        rb_holder=$(cat -- "$rb_env.lock/pid" 2>/dev/null)
        if [ -n "$rb_holder" ] && kill -0 "$rb_holder" 2>/dev/null; then
            rb_fail busy "another remotebook env is installing into $rb_env (pid $rb_holder)"
        fi
        rm -rf -- "$rb_env.lock" # its owner died: the lock is stale
        mkdir -- "$rb_env.lock" 2>/dev/null || rb_fail busy "another remotebook env is installing into $rb_env"
    fi
    rb_lock="$rb_env.lock"
    rb_put "$rb_lock/pid" "$$"
}

rb_index_check() { # prints "ok URL" or "unreachable URL REASON" for the index the installer will use
    "$rb_py" - "$rb_installer" "$rb_env/bin/python" <<'PYEOF' 2>&1
import os, subprocess, sys, urllib.error, urllib.parse, urllib.request
installer, env_python = sys.argv[1], sys.argv[2]
names = ("UV_DEFAULT_INDEX", "UV_INDEX_URL") if installer == "uv" else ("PIP_INDEX_URL",)
url = next((os.environ[n] for n in names if os.environ.get(n)), "")
if not url and installer == "pip":  # ask pip itself: pip.conf in any of its places
    try:
        out = subprocess.run([env_python, "-m", "pip", "config", "list"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    found = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(".index-url"):
            found[key.split(".")[0]] = value.strip().strip("'\"")
    url = found.get("install") or found.get("global") or ""
url = (url or "https://pypi.org/simple/").split()[0]
parts = urllib.parse.urlsplit(url)
if parts.hostname:  # never show or send credentials: any HTTP answer proves the index is reachable
    url = parts._replace(netloc=parts.hostname + (":%d" % parts.port if parts.port else "")).geturl()
try:
    if parts.scheme == "file":
        os.stat(urllib.request.url2pathname(parts.path))
    else:
        urllib.request.urlopen(url, timeout=5).close()
except urllib.error.HTTPError:
    pass
except Exception as e:
    print("unreachable", url, getattr(e, "reason", None) or e)
    sys.exit()
print("ok", url)
PYEOF
}

rb_new_env() { # a fresh venv made from PY (uv's is much faster); none is left if that fails
    rm -rf -- "$rb_env"
    if [ "$rb_installer" = uv ]; then
        "$rb_uv" venv --quiet --python "$rb_py" "$rb_env" >>"$rb_log" 2>&1
    else
        "$rb_py" -m venv "$rb_env" >>"$rb_log" 2>&1
    fi || {
        rm -rf -- "$rb_env"
        rb_fail venv_failed "could not create a venv with $rb_py ($rb_installer)" "$rb_log"
    }
}

rb_install_failed() { # STEP: keep the log; a brand-new env goes, an existing one was not touched
    rb_kept="$rb_env/install.log"
    if [ "$rb_fresh" = yes ]; then
        rb_kept="$rb_env.failed.log"
        rm -rf -- "$rb_env"
    fi
    cp -f -- "$rb_log" "$rb_kept" 2>/dev/null || rb_kept=
    rb_answer "{\"ok\":false,\"error\":\"install_failed\",\"message\":$(rb_str "$rb_installer could not $1"),\"step\":$(rb_str "$1"),\"installer\":$(rb_str "$rb_installer"),\"fresh\":$([ "$rb_fresh" = yes ] && echo true || echo false),\"log\":$(rb_str "$rb_kept")}"
    rb_log_mark
    tail -n 80 -- "$rb_log" # enough to name the failing requirement; the user sees the last 25
    exit 3
}

rb_install() {
    rb_base_python
    [ -n "$rb_py" ] || rb_fail no_python "no python3 on the remote PATH (login shell)"
    rb_installer=pip
    [ -n "$rb_uv" ] && rb_installer=uv
    rb_lock_env
    rb_log="$rb_tmp/install.log"
    rb_base="$rb_py $(printf '%s' "$rb_ver" | sed -n 's/^Python \([0-9]*\.[0-9]*\).*/\1/p')"
    rb_fresh=no
    # A venv belongs to one python: made from another one (or a new minor version), it is made again.
    if [ ! -x "$rb_env/bin/python" ] || [ "$(cat -- "$rb_env/base" 2>/dev/null)" != "$rb_base" ]; then
        rb_fresh=yes
        rb_new_env
    fi
    if [ "$RB_WHEELS" != yes ]; then
        rb_net=$(rb_index_check)
        case $rb_net in
            unreachable\ *) # (a check that broke itself does not stand in the way of the install)
                [ "$rb_fresh" = yes ] && rm -rf -- "$rb_env"
                rb_net=${rb_net#unreachable }
                rb_fail no_network "the server cannot reach ${rb_net%% *} (${rb_net#* })"
                ;;
        esac
    fi
    printf '%s\n' "$RB_REQS" >"$rb_tmp/requirements.txt"
    set -- -r "$rb_tmp/requirements.txt" ipykernel
    [ "$RB_LAB" = yes ] && set -- "$@" jupyterlab
    # shellcheck disable=SC2086 # a word list of name==version pins (durable outputs' extensions)
    [ -n "$RB_EXTRA" ] && set -- "$@" $RB_EXTRA
    [ "$rb_installer" = uv ] && set -- "$@" pip # uv makes venvs without pip: `%pip install` needs it
    [ "$RB_WHEELS" = yes ] && set -- --no-index --find-links "$rb_env.wheels" "$@"
    cd -- "$rb_root" || rb_fail root_not_writable "cannot enter $rb_root" # relative paths in the requirements are the project's on the server
    # pip and uv resolve, download and build everything before they change the env:
    # a failure here leaves an existing env as it was.
    if [ "$rb_installer" = uv ]; then
        "$rb_uv" pip install --python "$rb_env/bin/python" "$@" >>"$rb_log" 2>&1
    else
        "$rb_env/bin/python" -m pip install --disable-pip-version-check --no-input "$@" >>"$rb_log" 2>&1
    fi || rb_install_failed "install the requirements"
    "$rb_env/bin/python" -m ipykernel install --sys-prefix --name "$RB_KERNEL" --display-name "$RB_DISPLAY" \
        >>"$rb_log" 2>&1 || rb_install_failed "register the kernel"
    printf '%s\n' "$rb_base" >"$rb_env/base"
    cp -f -- "$rb_tmp/requirements.txt" "$rb_env/requirements.txt"
    cp -f -- "$rb_log" "$rb_env/install.log"
    printf '%s\n' "$RB_KERNEL" >"$rb_env/kernel" # `up` makes it the default kernel
    printf '%s\n' "$RB_HASH" >"$rb_env/requirements.sha256" # last: only a complete install counts
    rb_summary=$(grep -E '^(Successfully installed|Installed [0-9]+ package|Audited [0-9]+ package)' "$rb_log" | tail -n 1)
    rb_answer "{\"ok\":true,\"action\":\"$([ "$rb_fresh" = yes ] && echo created || echo updated)\",\"env\":$(rb_str "$rb_env"),\"installer\":$(rb_str "$rb_installer"),\"python\":$(rb_str "$rb_py"),\"python_version\":$(rb_str "$rb_ver"),\"summary\":$(rb_str "$rb_summary")}"
}

rb_locate
case $RB_ACTION in
    probe) rb_probe ;;
    install) rb_install ;;
    *) rb_fail usage "unknown action $RB_ACTION" ;;
esac
