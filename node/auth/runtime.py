"""What the OAuth pages keep per application: form signer, login limiter, templates.

Hung off the app object under ``node.appkeys.AUTH`` (no module state; STYLE.md), built by
the composition root once the instance key is known (PROTOCOL.md C10, SECURITY.md row 21).
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2

from node.auth.forms import FormSigner
from node.auth.ratelimit import LoginLimiter

__all__ = ["AuthRuntime"]


@dataclass(frozen=True)
class AuthRuntime:
    """The authorization server's per-application state."""

    signer: FormSigner
    limiter: LoginLimiter
    templates: jinja2.Environment

    @classmethod
    def create(cls, instance_private_key_pem: str) -> AuthRuntime:
        """State whose signing key derives from the instance key (shared by all workers)."""
        templates = jinja2.Environment(
            loader=jinja2.PackageLoader("node.api", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        return cls(FormSigner.derive(instance_private_key_pem), LoginLimiter(), templates)
