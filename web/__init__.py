"""The HTML front end (jinja2 pages); arrives with the web-pages issue."""

__all__: list[str] = []
