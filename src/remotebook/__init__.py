"""remotebook: a remote Jupyter server in the laptop's browser, in one command."""

__version__ = "0.1.0"
