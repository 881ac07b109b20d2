"""Fleet targets as the user writes them: ssh://[USER@]HOST[:PORT], a bare ssh
host or ~/.ssh/config alias, k8s://[CONTEXT][/NODE…], and @FILE lists of them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nsview.errors import UsageError

_HOST_RE = re.compile(r"^[A-Za-z0-9._:%\[\]-]+$")
_USER_RE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True, slots=True)
class SshTarget:
    text: str  # what the user wrote, kept for the fleet file
    host: str
    user: str | None = None
    port: int | None = None

    def ssh_destination(self) -> list[str]:
        argv = []
        if self.port is not None:
            argv += ["-p", str(self.port)]
        if self.user is not None:
            argv += ["-l", self.user]
        return [*argv, "--", self.host]


@dataclass(frozen=True, slots=True)
class KubeTarget:
    """k8s://[CONTEXT][/NODE,...]: every node of the context, or those named."""

    text: str
    context: str | None = None
    nodes: tuple[str, ...] = ()


Target = SshTarget | KubeTarget


def parse_target(text: str) -> Target:
    """One target; UsageError (one line) when it cannot be one."""
    text = text.strip()
    if not text:
        raise UsageError("empty fleet target")
    if text.startswith("k8s://"):
        rest = text[len("k8s://") :]
        context, _, nodes = rest.partition("/")
        names = tuple(n for part in nodes.split("/") for n in part.split(",") if n)
        for name in (context, *names):
            if name and not _HOST_RE.match(name):
                raise UsageError(f"bad kubernetes target {text!r}: {name!r} is not a name")
        return KubeTarget(text, context or None, names)
    if "://" in text and not text.startswith("ssh://"):
        scheme = text.split("://", 1)[0]
        raise UsageError(f"unknown target scheme {scheme!r} in {text!r} (use ssh:// or k8s://)")
    rest = text[len("ssh://") :] if text.startswith("ssh://") else text
    user = None
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
        if not _USER_RE.match(user):
            raise UsageError(f"bad user {user!r} in target {text!r}")
    host, port = rest, None
    if rest.startswith("["):  # ssh://[2001:db8::1]:2222
        close = rest.find("]")
        if close < 0:
            raise UsageError(f"unclosed '[' in target {text!r}")
        host, tail = rest[1:close], rest[close + 1 :]
        if tail:
            if not tail.startswith(":"):
                raise UsageError(f"bad target {text!r}")
            port = _port(tail[1:], text)
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
        port = _port(port_text, text)
    if not host or not _HOST_RE.match(host) or host.startswith("-"):
        raise UsageError(f"bad host in target {text!r}")
    return SshTarget(text, host, user, port)


def _port(text: str, target: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"bad port {text!r} in target {target!r}")
    return int(text)


def expand_targets(words: list[str]) -> list[Target]:
    """Targets from the command line; ``@FILE`` reads one per line (# comments)."""
    out: list[Target] = []
    for word in words:
        if word.startswith("@"):
            path = word[1:]
            try:
                with open(path, encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except OSError as exc:
                raise UsageError(f"cannot read target list {path}: {exc.strerror}") from None
            for line in lines:
                line = line.split("#", 1)[0].strip()
                if line:
                    out.append(parse_target(line))
        else:
            out.append(parse_target(word))
    if not out:
        raise UsageError("no fleet targets given")
    seen: set[str] = set()
    for target in out:
        if target.text in seen:
            raise UsageError(f"target {target.text!r} given twice")
        seen.add(target.text)
    return out
