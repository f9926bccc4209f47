"""bench/common.py and bench_up's round-trip bookkeeping: the pure parts (statistics, log reading, windows)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import common
from bench.bench_up import step_kind, turn_stamps, turns_between
from bench.common import LogLine, Sample


def test_pairs_take_only_rounds_sampled_on_both_sides() -> None:
    a = [Sample(2.0, round=0), Sample(3.0, round=1), Sample(9.0, round=2), Sample(5.0)]
    b = [Sample(1.0, round=0), Sample(2.0, round=1)]
    assert common.pair_ratios(a, b) == [2.0, 1.5]
    assert common.pairs_range(a, b) == " (pairs 1.50–2.00)"
    assert common.pairs_range(a[:1], b) == ""  # one pair says nothing about noise
    assert common.ratio(a, b) == common.median(a) / 1.5


def test_rotated_lets_each_item_go_first_in_turn() -> None:
    items = ["a", "b", "c"]
    assert [common.rotated(items, i)[0] for i in range(4)] == ["a", "b", "c", "a"]
    assert common.rotated([], 3) == []


def test_calls_pair_each_run_line_with_its_exit() -> None:
    lines = [
        LogLine(10.0, 7, "remotebook 0.1 up rbremote"),
        LogLine(10.1, 7, "run: ssh -G rbremote"),
        LogLine(10.11, 7, "exit 0 in 0.008s: ssh"),
        LogLine(10.2, 7, "stream: rsync -a x/ y/"),
        LogLine(10.9, 7, "exit 0 in 0.650s: rsync"),
    ]
    calls = common.calls(lines)
    assert [(c.argv, c.start, c.seconds) for c in calls] == [
        ("ssh -G rbremote", 10.1, 0.008),
        ("rsync -a x/ y/", 10.2, 0.65),
    ]
    phases = common.phases(lines, 9.95, 1.0, lambda argv: argv.split()[0], "start", "rest")
    assert phases["ssh"] == 0.008 and phases["rsync"] == 0.65
    assert round(phases["start"], 3) == 0.05 and round(phases["rest"], 3) == 0.292


def test_lines_of_run_keep_the_first_process_after_the_spawn(tmp_path: Path) -> None:
    (tmp_path / "remotebook.log").write_text(
        "2026-12-02 00:00:01,000 11 remotebook DEBUG earlier run\n"
        "2026-12-02 00:00:05,000 12 remotebook DEBUG run: ssh -G x\n"
        "2026-12-02 00:00:05,100 13 remotebook DEBUG a supervisor\n"
        "2026-12-02 00:00:05,200 12 remotebook DEBUG exit 0 in 0.005s: ssh\n"
    )
    first = common.read_log(tmp_path)[1].wall
    got = common.lines_of_run(tmp_path, first - 0.5)
    assert [(x.pid, x.message) for x in got] == [(12, "run: ssh -G x"), (12, "exit 0 in 0.005s: ssh")]
    later = common.read_log(tmp_path)[2].wall - 0.01  # a supervisor (13) logs first after this spawn
    assert [x.pid for x in common.lines_of_run(tmp_path, later, skip={13})] == [12]


def test_turns_are_counted_inside_a_window_across_connections(tmp_path: Path) -> None:
    log = tmp_path / "proxy.jsonl"
    events = [{"event": "open", "wall": 1.0}, {"event": "turn", "wall": 2.0, "n": 1}]
    events += [{"event": "turn", "wall": 3.0, "n": 1}, {"event": "turn", "wall": 5.0, "n": 2}, {"event": "close"}]
    log.write_text("".join(json.dumps(e) + "\n" for e in events) + "not json\n")
    stamps = turn_stamps(log)
    assert stamps == [2.0, 3.0, 5.0]
    assert turns_between(stamps, 2.0, 3.0) == 2
    assert turns_between(stamps, 3.5, 9.0) == 1


def test_step_kinds_name_remotebooks_ssh_calls() -> None:
    assert step_kind("ssh -F c -G -o ControlPath=/r/cm-%C -- rbwan ").startswith("`ssh -G`")
    assert step_kind("ssh -o ControlPath=/r/cm-x -O check -- remotebook ").startswith("`ssh -O check`")
    assert step_kind("ssh -o ControlMaster=yes -E log -f -N -T -- rbwan ").startswith("`ssh -f -N`")
    assert step_kind("ssh -o ControlMaster=auto -o ControlPersist=yes rbwan sh -c x ").startswith("ssh session")
    assert step_kind("ssh -o ControlPath=/r/cm-x -o BatchMode=yes rbwan sh -c x ").startswith("ssh session")
    assert step_kind("ssh rbwan true ") == "other ssh"
    assert step_kind("rsync -a ") == "rsync"
