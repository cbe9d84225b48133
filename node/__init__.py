"""The Kantine node: database, federation, services, APIs and the ``kantine`` command."""

__all__: list[str] = []
