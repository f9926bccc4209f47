# remotebook remote helpers, shared by bootstrap.sh and env.sh: remotebook renders
# RB_* assignments, then this file, then one script, and sends it all in one round trip.
# POSIX sh. Internal names are rb_-prefixed: the profile's `setup` runs in this same
# shell (so `module load` and `export` reach what runs next) and must not clobber them.
# shellcheck shell=sh disable=SC2088,SC2015,SC2153 # literal "~/" prefixes; A && B || fail is meant; RB_* come from the header
# The script itself runs in the C locale; Jupyter and its kernels get the user's back
# (rb_user_locale). No umask here: what remotebook makes for the user (remote_dir, envs,
# notebooks through Jupyter) gets the user's own; its private files are made private
# one by one (rb_private_dir, rb_put).
rb_lc_all=${LC_ALL-}
rb_lc_all_set=${LC_ALL+yes}
LC_ALL=C
export LC_ALL

rb_str() { # a JSON string (control characters dropped; paths never need them)
    case $1 in
        *[\\\"]* | *[![:print:]]*) # rare: escape with tools; the common case forks nothing
            printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')" ;;
        *) printf '"%s"' "$1" ;;
    esac
}
# RB_NONCE is new for every call: nothing printed before or after can pass for the answer.
rb_answer() { printf '\n@@remotebook-answer-%s@@\n%s\n' "$RB_NONCE" "$1"; }
rb_log_mark() { printf '@@remotebook-log-%s@@\n' "$RB_NONCE"; }
rb_fail() { # KIND MESSAGE [FILE-WHOSE-TAIL-TO-SHOW]
    rb_answer "{\"ok\":false,\"error\":$(rb_str "$1"),\"message\":$(rb_str "$2")}"
    if [ -n "${3:-}" ] && [ -f "$3" ]; then rb_log_mark; tail -n 25 -- "$3"; fi
    exit 3
}
rb_nap() { sleep 0.05 2>/dev/null || sleep 1; } # the poll interval, not a hopeful wait

rb_abs() { # ~ and relative paths are relative to the remote home
    case $1 in
        "~") printf '%s' "$HOME" ;;
        "~/"*) printf '%s/%s' "$HOME" "${1#"~/"}" ;;
        /*) printf '%s' "$1" ;;
        *) printf '%s/%s' "$HOME" "$1" ;;
    esac
}

rb_judge() { # PATH: rb_real (its real path: symlinks followed as far as it exists) and rb_why
    # rb_why says why PATH is the account's, not a project's folder ("" when it is a project's):
    # the home, a folder that holds it, or one inside a dotted folder of it. local/roots.py judges the text alike.
    rb_real=$1 rb_rest='' rb_why='' rb_i=0
    [ -n "$rb_real" ] || rb_real=/
    while [ ! -d "$rb_real" ] && [ "$rb_i" -lt 256 ]; do # what does not exist yet is read as written
        rb_rest="/${rb_real##*/}$rb_rest"
        rb_real=${rb_real%/*}
        [ -n "$rb_real" ] || rb_real=/
        rb_i=$((rb_i + 1))
    done
    # One we cannot enter, nothing can be made in either: the action's own error says so.
    rb_real=$(cd -P -- "$rb_real" 2>/dev/null && pwd -P) || { rb_real=$1; return 0; }
    while [ -n "$rb_rest" ] && [ "$rb_i" -lt 1024 ]; do # mkdir -p makes them as written: .. is lexical here
        rb_rest=${rb_rest#/}
        rb_c=${rb_rest%%/*}
        rb_rest=${rb_rest#"$rb_c"}
        case $rb_c in
            '' | .) ;;
            ..) rb_real=${rb_real%/*} && [ -n "$rb_real" ] || rb_real=/ ;;
            *) rb_real="${rb_real%/}/$rb_c" ;;
        esac
        rb_i=$((rb_i + 1))
    done
    rb_home_real=$(cd -P -- "$HOME" 2>/dev/null && pwd -P) || rb_home_real=$HOME
    for rb_h in "$rb_home_real" "${HOME%/}"; do # the real home, and the home as named (a symlink to it)
        [ -n "$rb_h" ] || continue
        if [ "$rb_real" = "$rb_h" ]; then
            rb_why="is your home folder on the server: a project's files there can be your shell start-up files (.bash_profile) and ~/.ssh keys"
            return 0
        fi
        case $rb_h/ in "${rb_real%/}/"*)
            rb_why="holds your home folder on the server ($rb_h): a project's files there can be your shell start-up files (.bash_profile) and ~/.ssh keys"
            return 0 ;;
        esac
        case $rb_real/ in "$rb_h/."*)
            rb_c=${rb_real#"$rb_h/"}
            rb_why="is inside ~/${rb_c%%/*} on the server, where ssh, your shell or your tools read their settings"
            return 0 ;;
        esac
    done
    return 0
}

rb_resolve_root() { # rb_root from RB_ROOT; one that is the account's is refused before anything is made there
    rb_root=$(rb_abs "$RB_ROOT")
    [ "${RB_JUDGE_ROOT-}" = yes ] || return 0 # remotebook says so: an action that writes, and not approved
    rb_judge "$rb_root"
    [ -z "$rb_why" ] || rb_fail remote_dir_refused "remote_dir $RB_ROOT $rb_why"
}

rb_private_dir() { # DIR (and missing parents): 0700 from the start, and ours
    (umask 077 && mkdir -p -- "$1") && chmod 700 -- "$1" && [ -O "$1" ]
}

rb_put() { # FILE TEXT: a private file (0600 whatever the user's umask) holding exactly TEXT
    rm -f -- "$1" && (umask 077 && printf '%s' "$2" >"$1")
}

rb_user_locale() { # for what runs as the user (Jupyter, kernels): LC_ALL as the login shell had it
    if [ "$rb_lc_all_set" = yes ]; then LC_ALL=$rb_lc_all; else unset LC_ALL; fi
}

rb_canonical_root() { # rb_root -> its real path, and rb_key (its cksum) names things per root
    rb_root=$(cd -- "$rb_root" 2>/dev/null && pwd -P) || return 1
    rb_key=$(printf '%s' "$rb_root" | cksum | cut -d ' ' -f 1)
    # Made by `remotebook env`; outside ~/.remotebook/<host>/<key>, which `down --server` removes.
    # shellcheck disable=SC2034 # rb_env is for the script sent after this file
    rb_env="$HOME/.remotebook/envs/$RB_KERNEL-$rb_key"
}

rb_modules() { # `module` for setup: in the login shell it is a shell function, which this sh did not inherit
    command -v module >/dev/null 2>&1 && return 0 # a sh that imports exported functions (bash as sh) has it
    # Made again from what the login shell's module system exported, as that system's own sh init does.
    # shellcheck disable=SC2317,SC1091 # the functions run later, from setup; init/sh is the host's
    if [ -n "${LMOD_CMD:-}" ] && [ -x "$LMOD_CMD" ]; then # Lmod
        module() { eval "$("$LMOD_CMD" sh "$@")" && eval "$("${LMOD_SETTARG_CMD:-:}" -s sh)"; }
        [ -x "${LMOD_DIR:-}/ml_cmd" ] && ml() { eval "$("$LMOD_DIR/ml_cmd" "$@")"; }
    elif [ -n "${MODULESHOME:-}" ] && [ -f "$MODULESHOME/init/sh" ]; then # Environment Modules 3, 4, 5
        . "$MODULESHOME/init/sh"
    else # Environment Modules' command alone (4+ exports MODULES_CMD)
        rb_modulecmd=${MODULES_CMD:-$(command -v modulecmd 2>/dev/null)}
        [ -n "$rb_modulecmd" ] && module() { eval "$("$rb_modulecmd" sh "$@")"; }
    fi
    return 0
}

rb_conda_from_init() { # conda's own dir on PATH, from the block `conda init` wrote in the rc file
    # Login shells that are not interactive skip most of ~/.bashrc (Debian's returns at once).
    for rb_rc in "$HOME/.bashrc" "$HOME/.zshrc"; do
        rb_conda=$(sed -n "s/^__conda_setup=\"\$('\([^']*\/bin\/conda\)' 'shell\..*/\1/p" -- "$rb_rc" 2>/dev/null | head -n 1)
        [ -x "$rb_conda" ] || continue
        rb_conda=${rb_conda%/bin/conda}
        [ -d "$rb_conda/condabin" ] && PATH="$rb_conda/condabin:$PATH" || PATH="$rb_conda/bin:$PATH"
        return 0
    done
    return 1
}

rb_activate() { # SETUP-LOG: the profile's venv, conda env and setup commands, in that order
    if [ -n "$RB_VENV" ]; then
        RB_VENV=$(rb_abs "$RB_VENV")
        [ -d "$RB_VENV/bin" ] || rb_fail venv_missing "venv $RB_VENV does not exist on the remote"
        PATH="$RB_VENV/bin:$PATH"
    fi
    if [ -n "$RB_CONDA_ENV" ]; then
        command -v conda >/dev/null 2>&1 || rb_conda_from_init ||
            rb_fail conda_missing "conda_env is set but conda is not on PATH in a login shell, nor named by \`conda init\` in ~/.bashrc or ~/.zshrc"
        eval "$(conda shell.posix hook 2>/dev/null)" && conda activate "$RB_CONDA_ENV" ||
            rb_fail conda_env_missing "cannot activate conda env $RB_CONDA_ENV"
    fi
    if [ -n "$RB_SETUP" ]; then
        rb_put "$1" "" || rb_fail state_dir "cannot write $1"
        rb_modules 2>>"$1"
        eval "$RB_SETUP" >/dev/null 2>>"$1" || {
            if ! command -v module >/dev/null 2>&1 && grep -Eqs 'module.*not found|not found.*module' -- "$1"; then
                rb_fail setup_failed "the profile's setup uses \`module\`, but no module system (Lmod, Environment Modules) is set up in a login shell there" "$1"
            fi
            rb_fail setup_failed "the profile's setup commands failed" "$1"
        }
        if [ "${LC_ALL-}" != C ] || [ "${LC_ALL+yes}" != yes ]; then # setup chose a locale: it wins
            rb_lc_all=${LC_ALL-}
            rb_lc_all_set=${LC_ALL+yes}
            LC_ALL=C
            export LC_ALL
        fi
    fi
}
