"""remotebook's integration-test harness: a throwaway ssh "remote" (see remote_host.py)."""
