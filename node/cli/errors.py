"""What a command reports instead of a traceback: one line on stderr and an exit code."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["EXIT_CONFIG", "EXIT_FAILURE", "CommandError", "database_errors"]

#: The command could not do what was asked (unknown user, duplicate, database down).
EXIT_FAILURE = 1
#: The configuration or the command line is wrong (the same code argparse uses).
EXIT_CONFIG = 2


class CommandError(Exception):
    """A failure the admin can act on; ``main`` prints it as one line and exits."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """Turn a database failure into a :class:`CommandError`.

    Only the driver's own first line is shown: SQLAlchemy's message also carries the SQL
    and its parameters, which may hold a password hash or a token digest.
    """
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    try:
        yield
    except DBAPIError as exc:
        cause = exc.orig if exc.orig is not None else exc
        raise CommandError(f"database error: {_first_line(cause)}") from None
    except SQLAlchemyError as exc:
        raise CommandError(f"database error: {type(exc).__name__}") from None
    except (OSError, ConnectionError) as exc:
        raise CommandError(f"database unreachable: {_first_line(exc)}") from None
