"""The wizard's ssh steps: is the login password-free, a key made and installed if not, a Host block for ssh config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from remotebook.ui.commands.context import AppContext

if TYPE_CHECKING:
    from remotebook.connection.ssh import Target
    from remotebook.local.project_file import Answers
    from remotebook.ui.prompts import Asker


def connect(
    app: AppContext,
    ask: Asker,
    answers: Answers,
    login: bool,
    install_key: bool,
    key_file: Path | None,
    alias: str,
    write_ssh_config: bool,
) -> str:
    """Run the steps for the answers' host; the host the profile should name (the new alias, if one was added)."""
    from remotebook.connection import ssh
    from remotebook.local.paths import private_dir

    target = ssh.resolve(answers.host, app.ssh_config, private_dir(app.paths.runtime_dir))
    identity = _login(ask, target, install_key, key_file) if login else ""
    return _host_block(app, ask, target, alias or _alias(target, answers.profile), identity, write_ssh_config)


def _alias(target: Target, profile: str) -> str:
    from remotebook.connection import sshconfig

    return sshconfig.alias_for(target, profile)


def _login(ask: Asker, target: Target, install_key: bool, key_file: Path | None) -> str:
    """Check the password-free login, install a key if the user agrees; the IdentityFile ssh must be told of, or ""."""
    from remotebook.connection import direct, keys
    from remotebook.core.errors import SSHError
    from remotebook.ui.prompts import say

    name = target.destination
    problem = direct.try_login(target)
    if problem is None:
        say(f"password-free login to {name} works")
        return ""
    if problem.kind not in ("auth", "host_key_unknown"):
        problem.hint = (problem.hint + "; " if problem.hint else "") + "or run init with --no-check"
        raise problem
    if problem.kind == "host_key_unknown" and not ask.interactive:
        raise problem  # nobody to compare the fingerprint: the user must see it first (its hint says how)
    if problem.kind == "host_key_unknown":
        say(
            f"ssh does not know the host key of {name} yet: ssh shows its fingerprint and asks; "
            "compare it with the one the server's admin gave you before you answer yes"
        )
    else:
        say(f"logging in to {name} needs a password (or a key ssh does not have)")
    key = key_file or keys.default_key()
    made = not key.exists()
    if not made and problem.kind == "auth" and direct.try_login(target, identity=str(key)) is None:
        say(f"{key} already logs in to {name}; ssh only has to be told to offer it")
        return "" if _offered(target, key) else str(key)
    question = f"{'Make an ed25519 key ' + str(key) if made else 'Use your key ' + str(key)} and install it on {name}?"
    if not ask.consent(question + " (ssh asks the password once)", install_key):
        hint = f"run `ssh {name}` once to check and accept its host key" if problem.kind == "host_key_unknown" else ""
        say("no key installed; `remotebook up` asks the password once per connection" + (f"; {hint}" if hint else ""))
        return ""
    if made:
        keys.generate(key, ask_passphrase=ask.interactive)
        say(f"made {key}")
    direct.install_key(target, keys.public_line(key))
    again = direct.try_login(target, identity=str(key))
    if again is not None:
        raise SSHError(
            f"{key} is installed on {name}, but a password-free login still fails: {again.message}",
            hint=f"if the key has a passphrase, add it to your agent (`ssh-add {key}`), then `remotebook doctor`",
        )
    say(f"installed {key} on {name}: password-free login works")
    return "" if _offered(target, key) else str(key)


def _offered(target: Target, key: Path) -> bool:
    """Does ssh already offer this key to the host (it is among its IdentityFile values)?"""
    from remotebook.connection import ssh

    return key.expanduser().absolute() in {path.absolute() for path in ssh.identity_files(target)}


def _same_host(app: AppContext, target: Target, alias: str) -> bool:
    """Does the existing `Host alias` lead where the destination does (a block an earlier init wrote)?"""
    from remotebook.connection import ssh
    from remotebook.core.errors import ConfigError
    from remotebook.local.paths import private_dir

    try:
        there = ssh.resolve(alias, app.ssh_config, private_dir(app.paths.runtime_dir))
    except ConfigError:
        return False
    return (there.hostname, there.port, there.user) == (target.hostname, target.port, target.user)


def _host_block(app: AppContext, ask: Asker, target: Target, alias: str, identity: str, write: bool) -> str:
    """Offer the Host block (print it; write it with the flag or a yes); the host the profile should name."""
    from remotebook.connection import sshconfig
    from remotebook.ui.prompts import say

    path = Path(app.ssh_config) if app.ssh_config else sshconfig.default_file()
    existing = sshconfig.hosts(path.read_text(encoding="utf-8", errors="replace")) if path.is_file() else set()
    if target.destination in existing or sshconfig.configured(target):
        where = f"`Host {target.destination}` in {path}" if target.destination in existing else "your ssh config"
        if identity:
            say(f"{target.destination} comes from {where}; add `IdentityFile {identity}` to it yourself")
        return target.destination
    if alias in existing:
        if _same_host(app, target, alias):
            say(
                f"{path} already has a `Host {alias}` for {target.destination}; the profile uses it, the file is unchanged"
            )
            return alias
        say(f"{path} already has a `Host {alias}` for another host; not changed (give another name with --alias)")
        return target.destination
    block = sshconfig.block(alias, target, identity)
    click.echo(f"A Host block for {path}, so that `ssh {alias}` (and `remotebook up {alias}`) work:")
    click.echo("\n" + block)
    if not ask.consent(f"Add it to {path}?", write, default=False):
        return target.destination
    written = sshconfig.add(path, alias, block)
    if written is None:  # pragma: no cover - only if another process added it just now
        say(f"{path} already has a `Host {alias}`; not changed")
        return target.destination
    say(f"added Host {alias} to {path}" + (f" (backup: {written.backup})" if written.backup else ""))
    return alias
