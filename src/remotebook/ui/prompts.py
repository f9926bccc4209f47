"""The wizard's questions and its progress lines: a terminal asks, elsewhere each question takes its flag."""

from __future__ import annotations

import click


class Asker:
    """Prompts on a terminal; without one (or with --yes) every question takes its flag or default."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def text(self, question: str, given: str, default: str) -> str:
        if given or not self.interactive:
            return given or default
        return str(click.prompt(question, default=default or None)).strip()

    def choice(self, question: str, given: str | None, choices: tuple[str, ...], default: str) -> str:
        if given or not self.interactive:
            return given or default
        return str(click.prompt(question, type=click.Choice(choices), default=default))

    def consent(self, question: str, flag: bool, default: bool = True) -> bool:
        """The flag says yes without asking; else a terminal asks; else no: nothing happens unasked."""
        if flag:
            return True
        return self.interactive and click.confirm(question, default=default)


def say(message: str) -> None:
    click.echo(f"» {message}", err=True)
