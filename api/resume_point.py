"""Where an alert stream resumes: the `id:` of its events and the Last-Event-ID it is
given back.

A stream sends the alert log in order, except that a critical entry logged behind
entries still to send goes first (`api.sse`). An id must still say exactly what the
client has, so that a reconnect gets every entry once: `N` is every entry up to N;
`N:A,B` is every entry up to N and, beyond it, A and B (sent ahead). A plain `N` is
what a stream in order sends, and what clients that keep an integer send back.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ID = 2**63 - 1
MAX_AHEAD = 32  # entries one id may name beyond its point; critical alerts are rare


@dataclass(frozen=True, slots=True)
class ResumePoint:
    after: int
    ahead: frozenset[int] = frozenset()

    def __str__(self) -> str:
        if not self.ahead:
            return str(self.after)
        return f"{self.after}:{','.join(map(str, sorted(self.ahead)))}"


def _seq(text: str) -> int:
    digits = text.strip()
    if not digits.isascii() or not digits.isdigit() or int(digits) > MAX_ID:
        raise ValueError(f"{text!r} is not a log sequence")
    return int(digits)


def parse_resume_point(text: str) -> ResumePoint:
    """`N` or `N:A,B,...` with A, B, ... after N; ValueError otherwise."""
    head, sep, rest = text.strip().partition(":")
    after = _seq(head)
    if not sep:
        return ResumePoint(after)
    ahead = frozenset(_seq(part) for part in rest.split(","))
    if len(ahead) > MAX_AHEAD or min(ahead) <= after:
        raise ValueError(f"at most {MAX_AHEAD} entries, each after {after}, may follow it")
    return ResumePoint(after, ahead)
