"""Theme files (TOML) → textual ``Theme`` objects.

Textual does not read themes from files; this module does. A theme file::

    name = "nsview-dark"        # optional: defaults to the file name
    dark = true                 # optional: defaults to true

    [colors]                    # textual's base colours; primary is required
    primary = "#4ea1ff"
    secondary = "#7aa2f7"       # also: accent warning error success
    background = "#14161b"      #       foreground surface panel boost

    [namespaces]                # one colour per namespace type (all optional)
    net = "#7dcfff"             # cgroup ipc mnt net pid time user uts

    [roles]                     # what nsview colours in its trees (all optional)
    dnat = "#ff9e64"            # see ROLE_DEFAULTS below for the list

    [variables]                 # any textual design variable, passed as is
    footer-key-foreground = "#4ea1ff"

Colours are anything textual's ``Color.parse`` accepts (#rgb, #rrggbb,
rgb(), hsl(), names); in [namespaces] and [roles] a value may also name
another design variable ("$text-warning"). A file that fails to parse is reported (one line: file,
key, what is wrong) and skipped; the app then falls back to the default theme.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import BUILTIN_THEMES, Theme

from nsview.errors import UsageError
from nsview.model import NS_TYPES

DEFAULT_THEME = "nsview-dark"

BASE_COLORS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)

# Fallbacks for the variables nsview's stylesheet uses, so that textual's own
# themes (and theme files that leave some out) still work.
NS_DEFAULTS = {
    "cgroup": "#a9b1d6",
    "ipc": "#e0af68",
    "mnt": "#9ece6a",
    "net": "#7dcfff",
    "pid": "#bb9af7",
    "time": "#73daca",
    "user": "#f7768e",
    "uts": "#ff9e64",
}
ROLE_DEFAULTS = {
    "name": "$text",  # the name of a thing (netns name, comm, interface)
    "label": "$text-muted",  # a derived name ("nginx (601)")
    "muted": "$text-muted",  # secondary facts
    "count": "$text-secondary",  # "12 procs", "3 rules"
    "pid": "$text-accent",
    "addr": "$text-success",  # IP addresses and routes
    "kind": "$text-secondary",  # interface kind, route type
    "peer": "$text-accent",  # ↔ veth peer
    "up": "$text-success",
    "down": "$text-error",
    "warn": "$text-warning",
    "error": "$text-error",
    "unshared": "$text-warning",  # namespaces not shared with the parent process
    "holder": "$text-secondary",  # fds and bind mounts keeping a namespace alive
    "group": "$text-primary",
    "dnat": "$text-warning",
    "snat": "$text-accent",
    "masquerade": "$text-accent",
    "match": "$text-warning",  # rows matching the filter
}


def theme_variable_defaults() -> dict[str, str]:
    out = {f"ns-{t}": c for t, c in NS_DEFAULTS.items()}
    out.update({f"role-{r}": c for r, c in ROLE_DEFAULTS.items()})
    return out


def resolve_references(variables: dict[str, str]) -> dict[str, str]:
    """Replace values like "$text-warning" by that variable's value (a few levels deep)."""
    out = dict(variables)
    for _ in range(4):
        changed = False
        for key, value in out.items():
            if isinstance(value, str) and value.startswith("$"):
                target = out.get(value[1:])
                if target is not None and target != value:
                    out[key] = target
                    changed = True
        if not changed:
            break
    for key, value in out.items():  # an unknown reference: never let the stylesheet fail
        if isinstance(value, str) and value.startswith("$"):
            out[key] = "auto 87%" if key.startswith("role-") else "#888888"
    return out


class ThemeFileError(ValueError):
    pass


@dataclass(slots=True)
class ThemeSet:
    themes: dict[str, Theme] = field(default_factory=dict)  # in load order
    errors: list[str] = field(default_factory=list)  # one line each
    files: dict[str, Path] = field(default_factory=dict)
    bad_names: set[str] = field(default_factory=set)  # names of files that failed

    @property
    def names(self) -> list[str]:
        return list(self.themes)


def _color(where: str, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"{where} {key}: expected a colour string, got {value!r}")
    if where != "[colors]" and value.startswith("$") and len(value) > 1:
        return value  # a reference to another design variable, e.g. "$text-warning"
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{where} {key}: {value!r} is not a colour") from None
    return value


def _table(data: dict, name: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ThemeFileError(f"[{name}] must be a table")
    return value


def parse_theme(text: str, default_name: str) -> Theme:
    """Parse one theme file's text; raises ThemeFileError with a one-line reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"not valid TOML: {exc}") from None
    unknown = set(data) - {"name", "dark", "colors", "namespaces", "roles", "variables"}
    if unknown:
        raise ThemeFileError(f"unknown key {sorted(unknown)[0]!r}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
        raise ThemeFileError(f"name must be a word without spaces, got {name!r}")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeFileError(f"dark must be true or false, got {dark!r}")
    colors = _table(data, "colors")
    for key in colors:
        if key not in BASE_COLORS:
            raise ThemeFileError(f"[colors] {key}: unknown (choose from {', '.join(BASE_COLORS)})")
    if "primary" not in colors:
        raise ThemeFileError("[colors] primary is required")
    base = {key: _color("[colors]", key, value) for key, value in colors.items()}
    variables: dict[str, str] = {}
    for key, value in _table(data, "namespaces").items():
        if key not in NS_TYPES:
            raise ThemeFileError(
                f"[namespaces] {key}: not a namespace type ({', '.join(NS_TYPES)})"
            )
        variables[f"ns-{key}"] = _color("[namespaces]", key, value)
    for key, value in _table(data, "roles").items():
        if key not in ROLE_DEFAULTS:
            raise ThemeFileError(f"[roles] {key}: unknown (choose from {', '.join(ROLE_DEFAULTS)})")
        variables[f"role-{key}"] = _color("[roles]", key, value)
    for key, value in _table(data, "variables").items():
        if not isinstance(value, str):
            raise ThemeFileError(f"[variables] {key}: expected a string, got {value!r}")
        variables[key] = value
    return Theme(name=name, dark=dark, variables=variables, **base)


def builtin_theme_dir() -> Path:
    return Path(str(resources.files("nsview.themes")))


def user_theme_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "nsview" / "themes"


def load_themes(dirs: Iterable[Path] | None = None) -> ThemeSet:
    """Themes from the package's theme directory, then the user's (later names win)."""
    out = ThemeSet()
    for directory in dirs if dirs is not None else (builtin_theme_dir(), user_theme_dir()):
        try:
            files = sorted(Path(directory).glob("*.toml"))
        except OSError:
            continue
        for path in files:
            try:
                theme = parse_theme(path.read_text(encoding="utf-8"), path.stem)
            except (OSError, UnicodeDecodeError) as exc:
                out.errors.append(f"theme file {path}: cannot read: {exc}")
                out.bad_names.add(path.stem)
                continue
            except ThemeFileError as exc:
                out.errors.append(f"theme file {path}: {exc}")
                out.bad_names.add(path.stem)
                continue
            out.themes.pop(theme.name, None)
            out.themes[theme.name] = theme
            out.files[theme.name] = path
    # A default file listed first keeps `t` cycling from the default.
    if DEFAULT_THEME in out.themes:
        out.themes = {DEFAULT_THEME: out.themes[DEFAULT_THEME]} | out.themes
    return out


def resolve_theme(name: str | None, themes: ThemeSet) -> tuple[str, list[str]]:
    """The theme to start with, and warnings to show (bad theme files, fallbacks)."""
    warnings = list(themes.errors)
    default = DEFAULT_THEME if DEFAULT_THEME in themes.themes else "textual-dark"
    if DEFAULT_THEME not in themes.themes:
        warnings.append(f"default theme {DEFAULT_THEME} unavailable; using textual-dark")
    if name is None:
        return default, warnings
    if name in themes.themes or name in BUILTIN_THEMES:
        return name, warnings
    if name in themes.bad_names:
        warnings.append(f"theme {name!r} could not be loaded (see above); using {default}")
        return default, warnings
    available = ", ".join(list(themes.themes) + sorted(BUILTIN_THEMES))
    raise UsageError(f"unknown theme {name!r} (available: {available})")
