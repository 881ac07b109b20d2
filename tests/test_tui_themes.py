"""Theme files: the format, errors that name the file and key, fallback to the default."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nsview.errors import UsageError
from nsview.model import NS_TYPES
from nsview.tui.app import NsviewApp
from nsview.tui.factory import AppOptions, SnapshotSource, make_app
from nsview.tui.themes import (
    DEFAULT_THEME,
    ThemeFileError,
    builtin_theme_dir,
    load_themes,
    parse_theme,
    resolve_references,
    resolve_theme,
)
from tests.tui_data import fixture_snapshot

GOOD = """
name = "mine"
dark = false
[colors]
primary = "#112233"
background = "white"
[namespaces]
net = "#00ff00"
[roles]
dnat = "$text-error"
[variables]
footer-key-foreground = "#abcdef"
"""


def test_builtin_themes_load_cleanly_with_every_namespace_colour():
    themes = load_themes([builtin_theme_dir()])
    assert themes.errors == []
    assert themes.names[0] == DEFAULT_THEME
    assert set(themes.names) >= {"nsview-dark", "nsview-light", "nsview-contrast"}
    assert themes.themes["nsview-light"].dark is False
    for theme in themes.themes.values():
        for t in NS_TYPES:
            assert f"ns-{t}" in theme.variables, (theme.name, t)


def test_parse_theme_maps_sections_to_textual_theme():
    theme = parse_theme(GOOD, "fallback-name")
    assert theme.name == "mine" and theme.dark is False
    assert theme.primary == "#112233" and theme.background == "white"
    assert theme.variables == {
        "ns-net": "#00ff00",
        "role-dnat": "$text-error",
        "footer-key-foreground": "#abcdef",
    }
    assert parse_theme('[colors]\nprimary = "red"\n', "from-file").name == "from-file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[colors\nprimary=1", "not valid TOML"),
        ('colours = {}\n[colors]\nprimary = "red"', "unknown key 'colours'"),
        ('[colors]\nsecondary = "red"', "[colors] primary is required"),
        ('[colors]\nprimary = "blurple"', "[colors] primary: 'blurple' is not a colour"),
        ('[colors]\nprimary = "$primary"', "[colors] primary: '$primary' is not a colour"),
        ('[colors]\nprimary = "red"\nshiny = "red"', "[colors] shiny: unknown"),
        ('[colors]\nprimary = "red"\n[namespaces]\nnetwork = "red"', "[namespaces] network"),
        ('[colors]\nprimary = "red"\n[roles]\nfoo = "red"', "[roles] foo: unknown"),
        ('[colors]\nprimary = "red"\n[roles]\ndnat = 3', "[roles] dnat: expected a colour"),
        ('dark = "yes"\n[colors]\nprimary = "red"', "dark must be true or false"),
        ('name = "two words"\n[colors]\nprimary = "red"', "name must be a word"),
        ('colors = "red"', "[colors] must be a table"),
    ],
)
def test_bad_theme_files_say_what_is_wrong_in_one_line(text, message):
    with pytest.raises(ThemeFileError) as err:
        parse_theme(text, "x")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_user_themes_override_and_bad_files_are_reported_not_fatal(tmp_path: Path):
    (tmp_path / "mine.toml").write_text(GOOD)
    (tmp_path / "broken.toml").write_text('[colors]\nprimary = "nope"\n')
    (tmp_path / "nsview-light.toml").write_text(
        'name = "nsview-light"\n[colors]\nprimary = "red"\n'
    )
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00")
    themes = load_themes([builtin_theme_dir(), tmp_path])
    assert "mine" in themes.themes and "broken" not in themes.themes
    assert themes.themes["nsview-light"].primary == "red"  # later directory wins
    assert themes.names[0] == DEFAULT_THEME
    assert len(themes.errors) == 2
    assert any(
        e == f"theme file {tmp_path / 'broken.toml'}: [colors] primary: 'nope' is not a colour"
        for e in themes.errors
    )
    assert themes.bad_names == {"broken", "binary"}
    assert load_themes([tmp_path / "missing"]).themes == {}


def test_user_theme_dir_follows_xdg(monkeypatch, tmp_path: Path):
    from nsview.tui.themes import user_theme_dir

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_theme_dir() == tmp_path / "nsview" / "themes"


def test_resolve_theme_name(tmp_path: Path):
    (tmp_path / "broken.toml").write_text('[colors]\nprimary = "nope"\n')
    themes = load_themes([builtin_theme_dir(), tmp_path])
    assert resolve_theme(None, themes)[0] == DEFAULT_THEME
    assert resolve_theme("nsview-contrast", themes)[0] == "nsview-contrast"
    assert resolve_theme("textual-light", themes)[0] == "textual-light"
    name, warnings = resolve_theme("broken", themes)
    assert name == DEFAULT_THEME
    assert warnings[-1] == f"theme 'broken' could not be loaded (see above); using {DEFAULT_THEME}"
    assert "is not a colour" in warnings[0]
    with pytest.raises(UsageError, match=r"unknown theme 'nope' \(available: nsview-dark, "):
        resolve_theme("nope", themes)
    empty = load_themes([tmp_path / "missing"])
    name, warnings = resolve_theme(None, empty)
    assert name == "textual-dark" and "unavailable" in warnings[-1]


def test_resolve_references():
    out = resolve_references({"a": "$b", "b": "$c", "c": "#fff", "d": "$nothing", "role-x": "$zz"})
    assert out == {"a": "#fff", "b": "#fff", "c": "#fff", "d": "#888888", "role-x": "auto 87%"}


def run_app(app: NsviewApp, script):
    async def main():
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await script(pilot)

    asyncio.run(main())


@pytest.mark.parametrize("name", ["nsview-dark", "nsview-light", "nsview-contrast"])
def test_each_theme_applies_its_namespace_and_role_colours(name):
    themes = load_themes([builtin_theme_dir()])
    app = make_app(AppOptions(SnapshotSource.given(fixture_snapshot()), themes=themes, theme=name))

    async def script(pilot):
        assert app.theme == name
        theme = themes.themes[name]
        for key, value in theme.variables.items():
            assert app.theme_variables[key] == value
        assert not any(str(v).startswith("$") for v in app.theme_variables.values())
        tree = app.tree()
        style = tree.get_component_rich_style("role--ns-net", partial=True)
        assert style.color is not None
        assert style.color.triplet.hex == theme.variables["ns-net"].lower()

    run_app(app, script)


def test_app_with_a_bad_theme_falls_back_and_says_so(tmp_path: Path):
    (tmp_path / "broken.toml").write_text('[colors]\nprimary = "nope"\n')
    themes = load_themes([builtin_theme_dir(), tmp_path])
    options = AppOptions(
        SnapshotSource.given(fixture_snapshot()),
        themes=themes,
        theme="broken",
        startup_messages=tuple(themes.errors),
    )
    app = make_app(options)

    async def script(pilot):
        assert app.theme == DEFAULT_THEME
        assert app.notices == [("warning", themes.errors[0])]

    run_app(app, script)


def test_textual_builtin_theme_still_gets_nsview_variables():
    themes = load_themes([builtin_theme_dir()])
    app = make_app(AppOptions(SnapshotSource.given(fixture_snapshot()), themes=themes))

    async def script(pilot):
        app.theme = "textual-light"
        await pilot.pause()
        assert app.theme_variables["ns-net"] == "#7dcfff"  # the default, no theme sets it
        assert app.theme_variables["role-addr"] == app.theme_variables["text-success"]

    run_app(app, script)
