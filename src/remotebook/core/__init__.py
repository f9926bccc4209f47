"""The bottom layer: errors and exit codes, the one door to subprocesses, deadlines."""
