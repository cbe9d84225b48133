"""Fixtures of the activitypub tests: client sessions closed after each test, a signing key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from activitypub.keys import generate_private_key

__all__: list[str] = []


@pytest.fixture
async def sessions() -> AsyncIterator[list[aiohttp.ClientSession]]:
    """Client sessions a test makes; each is closed when the test ends."""
    made: list[aiohttp.ClientSession] = []
    yield made
    for session in made:
        await session.close()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return generate_private_key()
