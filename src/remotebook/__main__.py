"""`python -m remotebook` runs the CLI."""

from remotebook.cli import main

if __name__ == "__main__":
    main()
