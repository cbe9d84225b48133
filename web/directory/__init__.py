"""The directory node's pages: search, people, departments, locations and the org chart."""

from web.directory.pages import setup

__all__ = ["setup"]
