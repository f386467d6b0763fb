"""Broadsheet: poll news feeds into a store and mail calm daily digests."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/broadsheet-news/broadsheet"
USER_AGENT = f"Broadsheet/{__version__} (+{PROJECT_URL})"
