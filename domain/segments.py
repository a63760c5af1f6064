"""Which of a workspace's segments a new ticket goes to when its source (a
survey response's hidden field, a web form, an inbound mail, an API client)
names one.

Segments are named by people on both sides: a survey platform's hidden field
says "retail" where the workspace's segment is "Retail". A name is matched
ignoring case and surrounding space; a name that matches no segment must not
make a ticket in a segment that does not exist (nobody manages it, so nobody
but an admin would ever see the ticket): the ticket goes to the fallback
segment instead, and keeps what its source said as its origin segment.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel


def match_segment(named: str | None, segments: Iterable[str]) -> str | None:
    """The workspace's segment that `named` names, ignoring case and
    surrounding space; None when it names none. An exact match wins over one
    that differs in case (two segments may differ in case only)."""
    if named is None or not named.strip():
        return None
    wanted = named.strip()
    known = sorted(segments)
    if wanted in known:
        return wanted
    folded = wanted.casefold()
    return next((segment for segment in known if segment.strip().casefold() == folded), None)


def fallback_segment(segments: Iterable[str], preferred: str | None = None) -> str | None:
    """Where a ticket whose named segment is unknown goes: `preferred` (a
    survey's default segment) when it is one of the workspace's, else the
    workspace's first segment by name (workspaces have no default segment of
    their own); None for a workspace without segments."""
    known = sorted(segments, key=lambda segment: (segment.casefold(), segment))
    if preferred is not None and (matched := match_segment(preferred, known)) is not None:
        return matched
    return known[0] if known else None


class SegmentChoice(BaseModel):
    """The segment a new ticket goes to, and what its source named when that
    is not one of the workspace's segments (None: the source named a known
    segment, or none at all)."""

    segment: str
    unknown_named: str | None = None


def choose_segment(
    named: str | None, segments: Iterable[str], *, default: str | None, unnamed: str
) -> SegmentChoice:
    """A named segment if the workspace has it (in the workspace's spelling);
    a name it lacks goes to `default` (or, failing that, the workspace's
    first segment), remembered as `unknown_named`; nothing named goes there
    too, without a note. `unnamed` only for a workspace without segments:
    a form or a mail that names none must not make a ticket in a segment
    nobody manages either."""
    known = list(segments)
    fallback = fallback_segment(known, default)
    if named is not None and named.strip():
        if (matched := match_segment(named, known)) is not None:
            return SegmentChoice(segment=matched)
        return SegmentChoice(segment=fallback or unnamed, unknown_named=named.strip())
    return SegmentChoice(segment=fallback or default or unnamed)
