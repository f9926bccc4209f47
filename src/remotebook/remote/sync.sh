# remotebook sync's remote steps, beside rsync's own: POSIX sh, values quoted by remotebook.
#   mkdir:   make remote_dir if it is missing; says whether it was (then nothing there can conflict),
#            its real path and the home's (check: the same, making nothing: before a pull)
#   restore: after a push, put back what changed on the server since the plan (from rsync's --backup-dir)
# shellcheck disable=SC2088,SC2015,SC2153,SC2154 # literal "~/" prefixes; A && B || fail is meant; RB_* come from the header; rb_root, rb_real from common.sh (rb_resolve_root, rb_judge)

rb_resolve_root

rb_keep() { # NAME "SIZE MTIME"|- INDEX STEM EXT: the replaced file, unless it is what the plan saw
    rb_was=$(stat -c '%s %Y' -- "$rb_b/$1" 2>/dev/null || stat -f '%z %m' -- "$rb_b/$1" 2>/dev/null) || return 0
    if [ "$rb_was" = "$2" ]; then rm -f -- "$rb_b/$1"; return 0; fi
    if [ -e "$1" ] || [ -h "$1" ]; then
        rb_t="$4$5" rb_n=1
        while { [ -e "$rb_t" ] || [ -h "$rb_t" ]; } && [ "$rb_n" -lt 1000 ]; do
            rb_n=$((rb_n + 1))
            rb_t="$4-$rb_n$5"
        done
        mv -f -- "$1" "$rb_t" && mv -f -- "$rb_b/$1" "$1" && rb_done="$rb_done kept.$3.$rb_n"
    else
        mkdir -p -- "$(dirname -- "$1")" && mv -f -- "$rb_b/$1" "$1" && rb_done="$rb_done back.$3.0"
    fi
}

case $RB_ACTION in
    mkdir | check)
        rb_made=false
        if [ "$RB_ACTION" = mkdir ] && ! [ -d "$rb_root" ]; then
            mkdir -p -- "$rb_root" 2>/dev/null || rb_fail sync_failed "cannot create remote_dir $rb_root"
            rb_made=true
        fi
        rb_judge "$rb_root" # where it really is, and the home: what a push there must skip (sync/skips.py)
        rb_answer "{\"ok\":true,\"created\":$rb_made,\"root\":$(rb_str "$rb_real"),\"homes\":[$(rb_str "$rb_home_real"),$(rb_str "$HOME")]}"
        ;;
    restore)
        cd -- "$rb_root" || rb_fail sync_failed "cannot enter remote_dir $rb_root"
        rb_b=$RB_BACKUP rb_done=
        # RB_KEEP is a list of words, five per file, each quoted by remotebook (shlex): a literal for eval.
        eval "set -- $RB_KEEP"
        while [ $# -ge 5 ]; do
            rb_keep "$1" "$2" "$3" "$4" "$5"
            shift 5
        done
        find "$rb_b" -depth -type d -exec rmdir -- {} + 2>/dev/null
        rmdir -- .rsync-backup 2>/dev/null
        eval "set -- $RB_DIRS"
        [ $# -gt 0 ] && rmdir -- "$@" 2>/dev/null
        rb_answer "{\"ok\":true,\"done\":$(rb_str "${rb_done# }")}"
        ;;
    *) rb_fail usage "unknown action $RB_ACTION" ;;
esac
