"""Files between the laptop and the server: rules, manifest, plan/apply/keep-both, watch, rsync."""
