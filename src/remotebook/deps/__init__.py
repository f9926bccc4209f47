"""Dependencies: scan imports of .py/.ipynb files, map them to distributions, build the remote env."""
