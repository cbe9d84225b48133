"""Services: posts, follows, interactions, timelines, notifications."""

__all__: list[str] = []
