"""What `broadsheet check` points out without failing: subscribers asking for feeds that are not there.

A subscriber's ``tags`` and ``feeds`` select feeds by the same rules as digests do (tags
case-insensitively, feed URLs exactly as the ``[[feeds]]`` entry writes them), so a typo gives
an empty digest forever without any error. Each warning names the key and the close matches.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable

from broadsheet.config import Settings


def warnings(settings: Settings) -> list[str]:
    """One line per subscriber tag or feed URL that matches no configured feed."""
    tags = sorted({tag.casefold() for feed in settings.feeds for tag in feed.tags})
    urls = [feed.url for feed in settings.feeds]
    found = []
    for index, subscriber in enumerate(settings.subscribers):
        where = f"subscribers[{index}]"
        for position, tag in enumerate(subscriber.tags):
            if tag.casefold() not in tags:
                found.append(
                    f"{where}.tags[{position}]: {json.dumps(tag)} is no feed's tag"
                    + _close(tag.casefold(), tags)
                )
        for position, url in enumerate(subscriber.feeds):
            if url.strip() not in urls:
                found.append(
                    f"{where}.feeds[{position}]: {url} is not a configured feed"
                    + _close(url.strip(), urls, cutoff=0.8)  # URLs share their scheme
                )
    return found


def _close(word: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """ "; did you mean ...?" with the close matches, or a hint when there are none."""
    matches = difflib.get_close_matches(word, list(known), n=3, cutoff=cutoff)
    if matches:
        return "; did you mean " + " or ".join(json.dumps(m) for m in matches) + "?"
    return "; it selects nothing (see the [[feeds]] entries)"
