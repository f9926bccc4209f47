"""Where and how the Jupyter server runs: `base` (the Launcher protocol and its types), `host` (on the ssh
target itself), `slurm` (a batch job on a node), `choose` (which one a profile asks for)."""
