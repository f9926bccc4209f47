"""What a command does for a project: up, status, down, password, runs, doctor."""
