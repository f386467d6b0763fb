"""Canonical links: absolute, lower-cased scheme and host, no default port, fragment or tracking.

Tracking parameters removed from links (matched case-insensitively on the parameter name):

- any name starting with ``utm_`` (Google Analytics campaign tags),
- click identifiers: fbclid, gclid, gclsrc, dclid, gbraid, wbraid, msclkid, yclid, twclid, ttclid,
  igshid, li_fat_id, rb_clickid, wickedid,
- mailing-list tags: mc_cid, mc_eid (Mailchimp), _hsenc, _hsmi, __hstc, __hssc, __hsfp,
  hsctatracking (HubSpot), mkt_tok (Marketo), vero_conv, vero_id (Vero),
  oly_anon_id, oly_enc_id (Omeda),
- referral tags: ref_src, ref_url (Twitter embeds), _openstat, s_cid,
- AT Internet campaign tags used by news sites: at_medium, at_campaign, at_custom1 to at_custom4.

Every other parameter is kept, in order and byte for byte, because it may select the article.
"""

from __future__ import annotations

from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

TRACKING_PREFIXES = ("utm_",)
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "li_fat_id",
        "rb_clickid",
        "wickedid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "__hstc",
        "__hssc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "vero_conv",
        "vero_id",
        "oly_anon_id",
        "oly_enc_id",
        "ref_src",
        "ref_url",
        "_openstat",
        "s_cid",
        "at_medium",
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
    }
)
WEB_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_tracking_param(name: str) -> bool:
    """True when a query parameter name is a known tracking tag."""
    key = unquote(name).strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def resolve_url(url: str | None, base: str | None) -> str | None:
    """Make ``url`` absolute against ``base``; None unless the result is an http(s) URL."""
    url = url.strip() if url else ""
    if not url:
        return None
    if url[:8].lower().startswith(("http://", "https://")):
        return url
    try:
        absolute = urljoin(base, url) if base else url
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:
        return None
    return absolute if scheme in WEB_SCHEMES else None


def canonical_link(link: str | None, base: str) -> str | None:
    """Absolute http(s) link without fragment, default port or tracking parameters; else None."""
    absolute = resolve_url(link, base)
    if absolute is None:
        return None
    try:
        parts = urlsplit(absolute)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host:
        return None
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", strip_tracking(parts.query), ""))


def strip_tracking(query: str) -> str:
    """Remove tracking parameters from a raw query string, keeping the others verbatim."""
    if not query:
        return ""
    kept = [p for p in query.split("&") if p and not is_tracking_param(p.partition("=")[0])]
    return "&".join(kept)
