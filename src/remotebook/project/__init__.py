"""One project's handle (profile, target, state, launcher) and the typed reports about it."""
