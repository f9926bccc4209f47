"""Entry point (`remotebook`, `python -m remotebook`): Ctrl-C while still importing ends quietly too."""

import sys


def main() -> None:
    try:
        from remotebook.ui.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("\nremotebook: interrupted\n")
        sys.exit(130)
    run()


if __name__ == "__main__":
    main()
