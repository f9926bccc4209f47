"""What ssh's stderr means: one table from its words to a failure kind, a one-line error and a hint."""

from __future__ import annotations

from remotebook.core.errors import SSHError, TunnelError, last_line

# (what ssh says, the kind of failure, our message, the hint). The kind is what a supervisor
# decides on: retry (the network may come back) or give up (retrying cannot fix it).
_FAILURES = [
    (
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "host_key_changed",
        "the host key of {d} does not match your known_hosts: refusing to connect",
        "if the server really was reinstalled, remove the old key with `ssh-keygen -R HOST`; otherwise someone may be intercepting the connection",
    ),
    (
        "Host key verification failed",
        "host_key_unknown",
        "host key verification failed for {d}: its key is not in your known_hosts or does not match",
        "connect once with plain `ssh {d}` to check and accept the key",
    ),
    (
        "Could not resolve hostname",
        "unresolved",
        "cannot resolve the host name of {d}",
        "check the spelling, your ssh config, or your network/VPN",
    ),
    (
        "Connection refused",
        "refused",
        "connection to {d} refused: no ssh server answers on that port",
        "check the host and port (ssh -G {d})",
    ),
    ("Permission denied", "auth", "authentication to {d} failed", "check your key/agent with `ssh {d}`"),
    (
        "Too many authentication failures",
        "auth",
        "authentication to {d} failed (too many keys offered)",
        "set IdentitiesOnly/IdentityFile for this host",
    ),
    ("timed out", "timeout", "connection to {d} timed out", "is the host up and reachable (VPN, firewall)?"),
    ("No route to host", "no_route", "no route to {d}", "check your network/VPN"),
    ("Network is unreachable", "no_route", "network unreachable while connecting to {d}", "check your network/VPN"),
]


def classify_failure(destination: str, stderr: str) -> SSHError:
    """Translate ssh's exit 255 into one line with a hint (ssh tells the reason only in prose)."""
    for needle, kind, message, hint in _FAILURES:
        if needle in stderr:
            err = SSHError(message.format(d=destination), hint=hint.format(d=destination), detail=last_line(stderr))
            err.kind = kind
            return err
    return SSHError(
        f"ssh to {destination} failed: {last_line(stderr) or 'exit 255'}",
        hint=f"try `ssh {destination}` by hand",
    )


def forward_refused(master_log: str) -> TunnelError | None:
    """Recognise sshd refusing our channel, from the master's log lines.

    A refused TCP forward says "administratively prohibited"; a refused unix-socket
    forward only says "connect failed: open failed", which is what sshd answers when
    AllowStreamLocalForwarding is off (the bootstrap already saw the socket listening).
    """
    if "administratively prohibited" in master_log:
        return TunnelError(
            "the ssh server refuses port forwarding (AllowTcpForwarding is off for you)",
            hint="ask the admin to allow forwarding for your user, or use another login node",
        )
    if "open failed: connect failed: open failed" in master_log:
        # sshd says the same for a socket nobody listens on; the bootstrap has just seen
        # Jupyter listening there, so a refusal is by far the likelier reason.
        return TunnelError(
            "the ssh server refuses to forward to Jupyter's unix socket (AllowStreamLocalForwarding is off?)",
            hint='set transport = "tcp" in the profile if the server allows TCP forwarding, or ask the admin; '
            "if Jupyter just stopped, run `remotebook up` again",
        )
    return None
