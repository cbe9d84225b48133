"""Tests of the Mastodon client API, driven with the real Mastodon.py library."""
