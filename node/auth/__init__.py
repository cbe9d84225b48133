"""Authentication: passwords and bearer tokens."""

__all__: list[str] = []
