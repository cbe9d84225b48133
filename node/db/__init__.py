"""Database access: models, engines and migrations."""

from node.db.engine import AsyncSession, Sessions, create_engine, migrate, sessionmaker_for

__all__ = ["AsyncSession", "Sessions", "create_engine", "migrate", "sessionmaker_for"]
