"""Keeping a project up: the reconnect loop, the background daemon, outage and network signals."""
