"""HTTP APIs: ActivityPub (S2S and C2S), discovery, health."""

__all__: list[str] = []
