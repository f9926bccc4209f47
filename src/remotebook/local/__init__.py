"""This computer's side of a project: paths, private state, config files, trust, the project file."""
