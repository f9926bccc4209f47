"""Every OS-specific call lives here (process exit watches; locks, terminals and network signals to come)."""
