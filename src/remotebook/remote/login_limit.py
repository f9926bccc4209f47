# mypy: ignore-errors
# (it runs inside the remote Jupyter server, which has jupyter_server and traitlets; this venv has neither)
"""Written by `remotebook password` beside the hashed password, as a Jupyter config file: a limit on login guesses.

jupyter_server (2.x) has no setting for failed logins: its login form checks as many
passwords as anyone can post, and every local user reaches the forwarded port (every
cluster user in the TCP modes). This identity provider is Jupyter's own password provider
with a bounded counter: after `max_failures` wrong passwords in a row the form refuses
every entry, right or wrong, until `lockout_seconds` after the last failure. The token
(in the URL or an Authorization header) is not the form and keeps working throughout.
Jupyter loads this file from the project's auth dir on JUPYTER_CONFIG_PATH; 1.x has no
identity providers, and is left as it was.

Runs inside the remote Jupyter server (any Python 3 that runs jupyter_server 2): no
imports of remotebook.
"""

import collections
import time

import jupyter_server

if int(jupyter_server.__version__.split(".")[0]) >= 2:
    from jupyter_server.auth.identity import PasswordIdentityProvider
    from traitlets import Float, Integer

    class RemotebookLoginLimit(PasswordIdentityProvider):
        """PasswordIdentityProvider that locks the login form after repeated failures."""

        max_failures = Integer(5, config=True, help="Wrong passwords in a row before the form locks.")
        lockout_seconds = Float(60.0, config=True, help="How long the form stays locked after the last failure.")
        _failures = collections.deque(maxlen=64)  # monotonic times of the latest failures, bounded

        def locked(self, now):
            recent = [t for t in self._failures if now - t < self.lockout_seconds]
            return len(recent) >= self.max_failures

        def process_login_form(self, handler):
            now = time.monotonic()
            if self.locked(now):
                self.log.warning(
                    "login refused: %d wrong passwords in a row (locked for %.0fs)",
                    self.max_failures,
                    self.lockout_seconds,
                )
                return None
            user = super().process_login_form(handler)
            if user is None:
                self._failures.append(now)
            else:
                self._failures.clear()
            return user

    c = get_config()  # noqa: F821 - Jupyter's config loader provides it
    c.ServerApp.identity_provider_class = RemotebookLoginLimit
