"""Plain ``nsview`` (the TUI launcher): options, one-line errors, the built wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nsview.cli.parser import build_parser
from tests.conftest import REPO, nsview_bin, run
from tests.tui_data import FIXTURE


def nsview(*args: str, **kw) -> subprocess.CompletedProcess:
    return run(nsview_bin(), *args, check=False, timeout=60, **kw)


def test_options_parse():
    args = build_parser().parse_args(
        ["--load", "x.json", "--interval", "2.5", "--theme", "nsview-light", "--no-net"]
    )
    assert (args.load, args.interval, args.theme, args.no_net, args.demo) == (
        "x.json",
        2.5,
        "nsview-light",
        True,
        False,
    )
    args = build_parser().parse_args([])
    assert (
        args.interval is None
        and args.load is None
        and args.handler.__module__.endswith("tui_options")
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--interval", "-1"], 2, "seconds must be 0 or more: '-1'"),
        (["--interval", "soon"], 2, "not a number of seconds: 'soon'"),
        (["--demo", "--load", "x.json"], 2, "--demo and --load cannot be combined"),
        (["--theme", "no-such-theme", "--load", str(FIXTURE)], 2, "unknown theme 'no-such-theme'"),
    ],
)
def test_bad_options_fail_in_one_line(args, code, message):
    res = nsview(*args)
    assert res.returncode == code
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not JSON: Expecting property name enclosed in double quotes at line 1"),
        (b'{"hello": 1}', "not an nsview snapshot (no schema_version)"),
        (b'{"schema_version": 99}', "snapshot schema_version 99; this nsview reads 1"),
        (b'{"schema_version": 1, "namespaces": 5}', "malformed snapshot"),
        (b"\xff\xfe\x00garbage", "not a text file"),
    ],
)
def test_load_a_bad_file_is_one_line_and_non_zero(tmp_path: Path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    res = nsview("--load", str(bad))
    assert res.returncode == 1
    assert res.stderr.startswith(f"nsview: {bad}: ")
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_load_a_missing_file(tmp_path: Path):
    res = nsview("--load", str(tmp_path / "nope.json"))
    assert res.returncode == 1
    assert (
        res.stderr == f"nsview: cannot read {tmp_path / 'nope.json'}: No such file or directory\n"
    )


def test_load_snapshot_file_reads_the_fixture():
    from nsview.cli.tui_options import load_snapshot_file

    snap = load_snapshot_file(str(FIXTURE))
    assert snap.host.hostname == "fixture-host" and len(snap.processes) == 10


def test_help_lists_the_tui_options():
    res = nsview("--help")
    assert res.returncode == 0
    for option in ("--load SNAP.json", "--interval SECONDS", "--theme NAME", "--demo", "--no-net"):
        assert option in res.stdout


@pytest.mark.slow
def test_built_wheel_ships_themes_and_stylesheet(tmp_path: Path):
    """Build the wheel (as a release would) and run the TUI's loaders from it alone."""
    out = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = out.glob("nsview-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for theme in ("nsview-dark", "nsview-light", "nsview-contrast"):
        assert f"nsview/themes/{theme}.toml" in names
    assert "nsview/themes/__init__.py" in names
    assert "nsview/tui/nsview.tcss" in names
    assert "nsview/tui/app.py" in names
    # Every package of the source tree is in the wheel (pyproject lists them by hand).
    for init in (REPO / "nsview").rglob("__init__.py"):
        assert init.relative_to(REPO).as_posix() in names, f"{init.parent} not shipped"
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    check = (
        "import nsview.tui.themes as t, nsview.tui.app as a, pathlib, sys\n"
        "s = t.load_themes([t.builtin_theme_dir()])\n"
        "assert not s.errors, s.errors\n"
        "assert sorted(s.names) == ['nsview-contrast', 'nsview-dark', 'nsview-light'], s.names\n"
        "assert str(t.builtin_theme_dir()).startswith(sys.argv[1]), t.builtin_theme_dir()\n"
        "css = pathlib.Path(a.__file__).parent / a.NsviewApp.CSS_PATH\n"
        "assert css.is_file() and str(css).startswith(sys.argv[1]), css\n"
        "print('ok')\n"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(site)!r})\n" + check,
            str(site),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert res.stdout.strip() == "ok", res.stderr
