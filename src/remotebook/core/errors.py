"""Typed errors and the one table of exit codes; the CLI turns them into one-line messages."""

from __future__ import annotations

# Exit codes are part of the interface: scripts test them. Keep this table in step
# with the epilog of `remotebook --help` (cli.EXIT_CODES_HELP) and the README.
EXIT_OK = 0
EXIT_ERROR = 1  # unexpected failure (a bug, or a tool that misbehaved)
EXIT_USAGE = 2  # bad command-line usage
EXIT_CONFIG = 3  # a config file is malformed or invalid
EXIT_SSH = 4  # cannot reach, authenticate to or trust the host
EXIT_REMOTE = 5  # the remote lacks what is needed (python3, jupyter, a writable remote_dir, env: an index)
EXIT_SERVER = 6  # the Jupyter server failed to start or to answer in time
EXIT_TUNNEL = 7  # the local port or the port forward failed
EXIT_NOT_RUNNING = 8  # status/open: nothing is up for that target
EXIT_SYNC = 9  # sync: rsync could not finish (disk full, permission, no rsync)
EXIT_DIFFERS = 10  # reqs --check: the requirements file differs from the project's imports
EXIT_INSTALL = 11  # env: a package failed to install on the remote (the previous env is kept)
EXIT_INSECURE = 12  # the server answers without a token (auth off); remotebook stopped what it started
EXIT_UNTRUSTED = 13  # a project file is not trusted: owned/writable by others, or not approved (`remotebook trust`);
# also a remote_dir that is the server account's (its home, ~/.ssh...), unless approved or the user's own
EXIT_RUN_FAILED = 14  # run: a cell raised, does not parse, or the kernel died; what ran is saved in the notebook
EXIT_DURABLE = 15  # durable outputs: the server's Jupyter lacks the extensions and remotebook could not install them
EXIT_INTERRUPTED = 130  # Ctrl-C


class RemotebookError(Exception):
    """An error meant for the user: a one-line message, a hint, and an exit code."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, hint: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail  # e.g. a log tail; shown below the message

    def __str__(self) -> str:
        return self.message


class UsageError(RemotebookError):
    exit_code = EXIT_USAGE


class ConfigError(RemotebookError):
    exit_code = EXIT_CONFIG


class SSHError(RemotebookError):
    exit_code = EXIT_SSH
    kind = ""  # what went wrong, when ssh said it plainly (ssh.classify_failure): "auth", "timeout"...


class RemoteEnvError(RemotebookError):
    exit_code = EXIT_REMOTE


class ServerError(RemotebookError):
    exit_code = EXIT_SERVER


class TunnelError(RemotebookError):
    exit_code = EXIT_TUNNEL


class NotRunningError(RemotebookError):
    exit_code = EXIT_NOT_RUNNING


class DiffersError(RemotebookError):
    exit_code = EXIT_DIFFERS


class SyncError(RemotebookError):
    """rsync failed, or was asked to do something unsafe."""

    exit_code = EXIT_SYNC


class InstallError(RemotebookError):
    exit_code = EXIT_INSTALL


class InsecureServerError(RemotebookError):
    """The Jupyter server lets a request without the token through."""

    exit_code = EXIT_INSECURE


class UntrustedError(RemotebookError):
    """A project file that could make remotebook run commands has not been approved."""

    exit_code = EXIT_UNTRUSTED


class RunFailedError(RemotebookError):
    """`remotebook run`: a cell failed (an error, a syntax error) or the kernel died."""

    exit_code = EXIT_RUN_FAILED


class DurableError(RemotebookError):
    """Durable outputs were asked for, and the server's Jupyter lacks the extensions that make them."""

    exit_code = EXIT_DURABLE


class CommandError(RemotebookError):
    """A local process failed; carries argv, exit code and the tail of stderr."""

    def __init__(self, argv: list[str], returncode: int | None, stderr: str, message: str = "") -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        what = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(message or f"{argv[0]} {what}: {last_line(stderr) or 'no output'}")


def last_line(text: str) -> str:
    """The last non-empty line of some output, stripped (most tools put the reason there)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
