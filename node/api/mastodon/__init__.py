"""The Mastodon client API (docs.joinmastodon.org/methods), so any Mastodon app works."""

__all__: list[str] = []
