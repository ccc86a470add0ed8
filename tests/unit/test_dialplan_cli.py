"""``bridge dialplan check``: output and exit codes, through the real ``bridge`` entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_check_ok_prints_a_one_line_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dialplan", "check", str(ROOT / "tests" / "fixtures" / "dialplans" / "valid")]) == 0
    captured = capsys.readouterr()
    assert captured.out == "4 dialplans OK: front-desk, sales, uk-callers, us-callers\n"
    assert captured.err == ""


def test_check_counts_one_dialplan_in_the_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "only.yml").write_text("name: only\n")
    assert main(["dialplan", "check", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "1 dialplan OK: only\n"


def test_check_problems_print_one_per_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nvoise: cedar\naudio: opus\n")
    (tmp_path / "b.yaml").write_text("name: b\n")
    assert main(["dialplan", "check", str(tmp_path)]) == 1
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert capsys.readouterr().out.splitlines() == [
        f"{a}:2: voise: unknown key (did you mean 'voice'?)",
        f"{a}:3: audio: unknown audio mode 'opus'; expected one of passthrough, pcm16",
        f"{b}:1: match: missing here and in {a}: only one dialplan may leave out match (the default)",
    ]


def test_check_an_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dialplan", "check", str(tmp_path)]) == 0
    assert (
        capsys.readouterr().out == f"no dialplan files in {tmp_path}: every call gets the built-in default dialplan\n"
    )


def test_check_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dialplan", "check", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().out == f"{tmp_path / 'nope'}: not a directory\n"


def test_check_defaults_to_dialplans_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BRIDGE_DIALPLANS", raising=False)
    monkeypatch.delenv("ORDERS_API_URL", raising=False)
    monkeypatch.delenv("ORDERS_TOKEN", raising=False)
    monkeypatch.delenv("ACME_HUMAN_NUMBER", raising=False)
    monkeypatch.chdir(ROOT)
    assert main(["dialplan", "check"]) == 0
    assert capsys.readouterr().out == "3 dialplans OK: default, acme-support, appointments\n"


def test_check_default_folder_follows_bridge_dialplans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.yaml").write_text("name: x\nvoice: ${X_VOICE}\n")
    monkeypatch.setenv("BRIDGE_DIALPLANS", str(tmp_path))
    monkeypatch.setenv("X_VOICE", "ash")
    assert main(["dialplan", "check"]) == 0
    assert capsys.readouterr().out == "1 dialplan OK: x\n"
    monkeypatch.delenv("X_VOICE")
    assert main(["dialplan", "check"]) == 1
    assert capsys.readouterr().out == (
        f"{tmp_path / 'x.yaml'}:2: voice: environment variable X_VOICE is not set (use ${{X_VOICE:-default}})\n"
    )


def test_dialplan_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["dialplan"])
    assert info.value.code == 2
    assert "the following arguments are required: ACTION" in capsys.readouterr().err
