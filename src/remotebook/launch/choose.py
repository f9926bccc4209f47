"""Which launcher a profile asks for: a batch job on a node, or the ssh target itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from remotebook.connection import ssh
    from remotebook.launch.base import Launcher
    from remotebook.local.config import Profile


def launcher_for(target: ssh.Target, profile: Profile) -> Launcher:
    """The launcher a profile asks for: a batch job (`scheduler = "slurm"`), else the ssh target itself."""
    if profile.scheduler == "slurm":  # imported here: a host profile's start-up never loads the Slurm code
        from remotebook.launch.slurm import SlurmLauncher

        return SlurmLauncher(target, profile)
    from remotebook.launch.host import HostLauncher

    return HostLauncher(target, profile)
