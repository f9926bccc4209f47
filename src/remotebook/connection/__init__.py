"""The ssh connection: target resolution, the master and its users, forwards, ssh config and keys."""
