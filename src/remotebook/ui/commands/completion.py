"""`remotebook completion SHELL`: the script that makes bash, zsh or fish complete remotebook's commands."""

from __future__ import annotations

from pathlib import Path

import click
from click.shell_completion import CompletionItem, get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_REMOTEBOOK_COMPLETE"  # click's own protocol: the shell calls `remotebook` with it set


def complete_target(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """TARGET: the profile names of this folder's config and the user config, then targets that were up."""
    from remotebook.local.paths import default_paths
    from remotebook.ui.completion import target_names

    names = target_names(default_paths(), Path.cwd())
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash:  eval "$(remotebook completion bash)"        in ~/.bashrc
    zsh:   eval "$(remotebook completion zsh)"         in ~/.zshrc
    fish:  remotebook completion fish > ~/.config/fish/completions/remotebook.fish
    """
    root = ctx.find_root()
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"no completion for {shell}")
    click.echo(cls(root.command, {}, root.info_name or "remotebook", COMPLETE_VAR).source())
