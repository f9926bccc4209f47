# remotebook owner: does this user's process RB_PID listen on 127.0.0.1:RB_PORT? Asked before the
# token goes to a TCP server's saved port: once the server died, anyone on this host may bind it.
# POSIX sh; remotebook prepends the RB_* assignments and common.sh. One JSON answer after a marker.
# A process's fds are readable only by its owner, so a listener found among them is this user's.
rb_owned=false rb_how=none
case $RB_PID$RB_PORT in *[!0-9]* | '') rb_fail usage "pid and port must be numbers" ;; esac
if [ -r /proc/net/tcp ] && [ -d "/proc/$RB_PID" ]; then
    rb_how=proc
    rb_want=$(printf '0100007F:%04X' "$RB_PORT")
    # shellcheck disable=SC2013 # one inode a line, each a single word
    for rb_i in $(awk -v a="$rb_want" '$2 == a && $4 == "0A" { print $10 }' /proc/net/tcp); do
        for rb_fd in "/proc/$RB_PID"/fd/*; do
            [ "$(readlink "$rb_fd" 2>/dev/null)" = "socket:[$rb_i]" ] && rb_owned=true && break 2
        done
    done
elif command -v lsof >/dev/null 2>&1; then # macOS, the BSDs: lsof lists only what this user may see
    rb_how=lsof
    lsof -nP -a -p "$RB_PID" "-iTCP@127.0.0.1:$RB_PORT" -sTCP:LISTEN -t 2>/dev/null | grep -qx "$RB_PID" && rb_owned=true
fi
rb_answer "{\"ok\":true,\"action\":\"check\",\"owned\":$rb_owned,\"how\":\"$rb_how\"}"
