"""The database schema: SQLAlchemy 2 typed models, one set for SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Account",
    "AccountPreference",
    "AuthorizationCode",
    "Base",
    "Block",
    "Bookmark",
    "Conversation",
    "Delivery",
    "Favourite",
    "Filter",
    "FilterKeyword",
    "FilterStatus",
    "Follow",
    "HomeFeedEntry",
    "IdempotencyKey",
    "InboxItem",
    "ListMember",
    "Marker",
    "MediaAttachment",
    "Mention",
    "Mute",
    "NodeSetting",
    "Notification",
    "NotificationOptOut",
    "OAuthApp",
    "OutboxActivity",
    "PasswordReset",
    "Peer",
    "Pin",
    "Profile",
    "RecoveryCode",
    "ScheduledStatus",
    "SiteLink",
    "Status",
    "StatusEdit",
    "StatusTag",
    "Tag",
    "ThreadMute",
    "Token",
    "Tombstone",
    "TwoFactor",
    "UTCDateTime",
    "UserList",
    "WebSession",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every Kantine table."""

    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime(), int: BigInteger()}


class Account(Base):
    """A local person or bot, or a remote actor we know of (``local`` tells which)."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("username", "domain", name="uq_accounts_username_domain"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    username: Mapped[str] = mapped_column(String(255))
    domain: Mapped[str] = mapped_column(String(255), index=True)
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    actor_type: Mapped[str] = mapped_column(String(32), default="Person")
    display_name: Mapped[str] = mapped_column(String(255), default="")
    #: Sanitised HTML.
    summary: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(2048))
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    header_url: Mapped[str | None] = mapped_column(String(2048))
    inbox_url: Mapped[str] = mapped_column(String(2048))
    shared_inbox_url: Mapped[str | None] = mapped_column(String(2048))
    outbox_url: Mapped[str | None] = mapped_column(String(2048))
    followers_url: Mapped[str | None] = mapped_column(String(2048))
    following_url: Mapped[str | None] = mapped_column(String(2048))
    featured_url: Mapped[str | None] = mapped_column(String(2048))
    public_key_id: Mapped[str] = mapped_column(String(2048), index=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    private_key_pem: Mapped[str | None] = mapped_column(Text)
    manually_approves_followers: Mapped[bool] = mapped_column(Boolean, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Profile fields as a JSON list of {"name", "value"} (value is sanitised HTML).
    fields_json: Mapped[str] = mapped_column(Text, default="[]")
    role: Mapped[str] = mapped_column(String(32), default="member")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    suspended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now)
    fetched_at: Mapped[datetime | None]


class Status(Base):
    """A post or a boost (``reblog_of_id``), local or remote."""

    __tablename__ = "statuses"
    __table_args__ = (
        Index("ix_statuses_account_id_id", "account_id", "id"),
        Index("ix_statuses_local_visibility_id", "local", "visibility", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    url: Mapped[str | None] = mapped_column(String(2048))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Sanitised HTML as shown to people.
    content: Mapped[str] = mapped_column(Text, default="")
    #: The author's source text, for local posts (edits start from it).
    text: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(16))
    #: public, unlisted, private, direct, limited or local (never federated).
    visibility: Mapped[str] = mapped_column(String(16))
    in_reply_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("statuses.id", ondelete="SET NULL"), index=True
    )
    in_reply_to_uri: Mapped[str | None] = mapped_column(String(2048), index=True)
    in_reply_to_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    reblog_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), index=True
    )
    context: Mapped[str | None] = mapped_column(String(2048))
    #: Remote attachments as JSON (list of {type, url, media_type, name, blurhash, width, height}).
    attachments_json: Mapped[str] = mapped_column(Text, default="[]")
    replies_count: Mapped[int] = mapped_column(Integer, default=0)
    favourites_count: Mapped[int] = mapped_column(Integer, default=0)
    reblogs_count: Mapped[int] = mapped_column(Integer, default=0)
    published_at: Mapped[datetime] = mapped_column(default=_now)
    edited_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=_now)


class StatusEdit(Base):
    """An earlier version of an edited status (edit history)."""

    __tablename__ = "status_edits"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status_id: Mapped[int] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), index=True
    )
    content: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    #: The version's attachments, as ``Status.attachments_json`` had them.
    attachments_json: Mapped[str] = mapped_column(Text, default="[]")


class Mention(Base):
    """An account mentioned in a status."""

    __tablename__ = "mentions"

    status_id: Mapped[int] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Tag(Base):
    """A hashtag, normalised (lower case, ASCII-folded)."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(255), unique=True)


class StatusTag(Base):
    """A hashtag used in a status."""

    __tablename__ = "status_tags"
    __table_args__ = (Index("ix_status_tags_tag_id_status_id", "tag_id", "status_id"),)

    status_id: Mapped[int] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class Follow(Base):
    """``account`` follows ``target``; ``state`` is pending until the target's side accepts."""

    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("account_id", "target_account_id", name="uq_follows_pair"),
        Index("ix_follows_target_state", "target_account_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    target_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    uri: Mapped[str] = mapped_column(String(2048), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Favourite(Base):
    """A like."""

    __tablename__ = "favourites"
    __table_args__ = (UniqueConstraint("account_id", "status_id", name="uq_favourites_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    status_id: Mapped[int] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), index=True
    )
    uri: Mapped[str] = mapped_column(String(2048), index=True)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Block(Base):
    """``account`` blocks ``target``."""

    __tablename__ = "blocks"
    __table_args__ = (UniqueConstraint("account_id", "target_account_id", name="uq_blocks_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    target_account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    uri: Mapped[str] = mapped_column(String(2048), index=True)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class HomeFeedEntry(Base):
    """A status in a local account's home timeline (fan-out on write)."""

    __tablename__ = "home_feed"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    status_id: Mapped[int] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True
    )


class Notification(Base):
    """Something a local account is told about: follow, mention, favourite, reblog, …"""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint(
            "account_id", "type", "from_account_id", "status_id", name="uq_notifications_event"
        ),
        Index("ix_notifications_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    from_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    status_id: Mapped[int | None] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class InboxItem(Base):
    """A received activity, stored before 202 and applied later by the inbox worker."""

    __tablename__ = "inbox_items"
    __table_args__ = (Index("ix_inbox_items_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: The activity id (or a digest of the body when a peer sends none): the dedupe key.
    activity_id: Mapped[str] = mapped_column(String(2048), unique=True)
    actor_uri: Mapped[str] = mapped_column(String(2048))
    host: Mapped[str] = mapped_column(String(255))
    #: The verified, verbatim body.
    body: Mapped[str] = mapped_column(Text)
    #: The local inbox it was posted to (None for the shared inbox).
    recipient_id: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=_now)
    locked_until: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=_now)
    applied_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class OutboxActivity(Base):
    """An activity a local account sent; its body is what every delivery posts verbatim."""

    __tablename__ = "outbox_activities"
    __table_args__ = (Index("ix_outbox_activities_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    object_uri: Mapped[str | None] = mapped_column(String(2048), index=True)
    #: Shown in the public outbox collection (public and unlisted posts only).
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Delivery(Base):
    """One (activity, inbox) delivery: the durable outbound queue (PROTOCOL.md A26–A28)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("activity_id", "inbox_url", name="uq_deliveries_activity_inbox"),
        Index("ix_deliveries_state_next", "state", "next_attempt_at"),
        Index("ix_deliveries_host_state", "host", "state"),
        # The worker delivers each inbox's backlog in order: "is there an older pending row?"
        Index("ix_deliveries_inbox_state_activity", "inbox_url", "state", "activity_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    activity_id: Mapped[int] = mapped_column(ForeignKey("outbox_activities.id", ondelete="CASCADE"))
    inbox_url: Mapped[str] = mapped_column(String(2048))
    host: Mapped[str] = mapped_column(String(255))
    #: pending → delivered | failed (gave up; the admin sees it and may retry).
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=_now)
    locked_until: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    delivered_at: Mapped[datetime | None]


class OAuthApp(Base):
    """A registered client application (PROTOCOL.md C9); the secret is kept only as a digest."""

    __tablename__ = "oauth_apps"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(255))
    website: Mapped[str | None] = mapped_column(String(2048))
    #: The registered redirect URIs, one per line; a request must name one exactly.
    redirect_uris: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(1024))
    #: Public identifier of the app.
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: SHA-256 of the client secret.
    secret_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class AuthorizationCode(Base):
    """A single-use authorization code, valid ten minutes (RFC 6749 §4.1.2, RFC 7636)."""

    __tablename__ = "oauth_codes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: SHA-256 of the code.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("oauth_apps.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scopes: Mapped[str] = mapped_column(String(1024))
    #: The PKCE S256 challenge, if the client sent one.
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    #: The token the code was exchanged for: revoked if the code is presented again.
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Token(Base):
    """A bearer token for scripts, bots and apps; only its SHA-256 digest is stored.

    ``account_id`` is empty for an app's own token (client credentials grant); ``app_id`` is
    empty for tokens made with ``kantine tokens create``.
    """

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    app_id: Mapped[int | None] = mapped_column(
        ForeignKey("oauth_apps.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: SHA-256 of the refresh token, if one was issued.
    refresh_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=_now)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Peer(Base):
    """A federation decision an admin made with the CLI: ``allowed`` or ``denied``."""

    __tablename__ = "peers"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Tombstone(Base):
    """An object id that was deleted: a late Create is ignored, a GET answers 410."""

    __tablename__ = "tombstones"

    uri: Mapped[str] = mapped_column(String(2048), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(default=_now)


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` for a post: a retry within an hour gets the same post (C20)."""

    __tablename__ = "idempotency_keys"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: None while the post is being made, or after it was deleted.
    status_id: Mapped[int | None] = mapped_column(ForeignKey("statuses.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Bookmark(Base):
    """A status a local account saved for later (PROTOCOL.md C20, C21)."""

    __tablename__ = "bookmarks"
    __table_args__ = (UniqueConstraint("account_id", "status_id", name="uq_bookmarks_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    status_id: Mapped[int] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Pin(Base):
    """A local account's own post pinned to its profile (the ``featured`` collection, C20)."""

    __tablename__ = "pins"
    __table_args__ = (UniqueConstraint("account_id", "status_id", name="uq_pins_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    status_id: Mapped[int] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Mute(Base):
    """``account`` hides ``target`` from its timelines without telling anyone (C19)."""

    __tablename__ = "mutes"
    __table_args__ = (UniqueConstraint("account_id", "target_account_id", name="uq_mutes_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    target_account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=_now)
    #: Their notifications are hidden too (Mastodon's ``notifications`` mute option).
    hide_notifications: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Marker(Base):
    """Where a person stopped reading a timeline, shared between their apps (C28)."""

    __tablename__ = "markers"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    #: ``home`` or ``notifications``.
    timeline: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_read_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=_now)


# Home timeline speed (migration 0008_timeline_speed; docs/performance.md).
Index("ix_follows_account_state", Follow.account_id, Follow.state)
Index("ix_statuses_account_reblog", Status.account_id, Status.reblog_of_id)


# -- lists, conversations, filters, scheduled posts, muted threads (revision 0007) ------------


class UserList(Base):
    """A person's list of accounts they follow, with its own timeline (PROTOCOL.md C21)."""

    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(255))
    #: Which replies the list shows: ``followed``, ``list`` or ``none`` (as Mastodon).
    replies_policy: Mapped[str] = mapped_column(String(16), default="list")
    #: Members' posts leave the home timeline and show only here.
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class ListMember(Base):
    """An account on a list."""

    __tablename__ = "list_accounts"

    list_id: Mapped[int] = mapped_column(
        ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Conversation(Base):
    """One person's view of a direct-message thread with a set of participants."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("account_id", "key", name="uq_conversations_account_key"),
        Index("ix_conversations_account_last", "account_id", "last_status_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    #: SHA-256 of the thread and the other participants: what makes a conversation one.
    key: Mapped[str] = mapped_column(String(64))
    #: The other participants' account ids, comma-separated, ascending.
    participants: Mapped[str] = mapped_column(Text, default="")
    last_status_id: Mapped[int | None] = mapped_column(
        ForeignKey("statuses.id", ondelete="SET NULL")
    )
    unread: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=_now)


class Filter(Base):
    """A person's content filter (Mastodon filters v2): keywords and statuses, per context."""

    __tablename__ = "filters"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(255))
    #: Comma-separated: home, notifications, public, thread, account.
    contexts: Mapped[str] = mapped_column(String(128))
    #: ``warn`` or ``hide``.
    action: Mapped[str] = mapped_column(String(8), default="warn")
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=_now)


class FilterKeyword(Base):
    """A word or phrase a filter matches."""

    __tablename__ = "filter_keywords"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    filter_id: Mapped[int] = mapped_column(ForeignKey("filters.id", ondelete="CASCADE"), index=True)
    keyword: Mapped[str] = mapped_column(String(255))
    whole_word: Mapped[bool] = mapped_column(Boolean, default=True)


class FilterStatus(Base):
    """A status a filter matches (and boosts of it)."""

    __tablename__ = "filter_statuses"
    __table_args__ = (UniqueConstraint("filter_id", "status_id", name="uq_filter_statuses_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    filter_id: Mapped[int] = mapped_column(ForeignKey("filters.id", ondelete="CASCADE"))
    status_id: Mapped[int] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), index=True
    )


class ScheduledStatus(Base):
    """A post to publish later; the node's worker publishes it when due (survives restarts)."""

    __tablename__ = "scheduled_statuses"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    scheduled_at: Mapped[datetime] = mapped_column(index=True)
    #: The post's parameters as JSON (text, visibility, spoiler_text, …).
    params_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class ThreadMute(Base):
    """A thread whose notifications a person no longer wants (``POST …/statuses/:id/mute``)."""

    __tablename__ = "thread_mutes"
    __table_args__ = (UniqueConstraint("account_id", "context", name="uq_thread_mutes_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    #: The thread's ``statuses.context``.
    context: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class MediaAttachment(Base):
    """A picture: uploaded here (a post's attachment, an avatar or a header; the files are
    ``file_name``/``preview_name`` in the media folder) or attached to a remote post
    (``remote_url``; no file here). C24, A23."""

    __tablename__ = "media_attachments"
    __table_args__ = (Index("ix_media_attachments_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    #: The post it belongs to; None while it waits to be posted (or for an avatar/header).
    status_id: Mapped[int | None] = mapped_column(
        ForeignKey("statuses.id", ondelete="SET NULL"), index=True
    )
    #: ``attachment``, ``avatar`` or ``header``.
    purpose: Mapped[str] = mapped_column(String(16), default="attachment")
    content_type: Mapped[str] = mapped_column(String(64))
    #: Random, unguessable names (never the uploader's file name, SECURITY.md row 16).
    file_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    preview_name: Mapped[str | None] = mapped_column(String(64))
    #: Where a remote post's attachment lives (None for our own uploads).
    remote_url: Mapped[str | None] = mapped_column(String(2048))
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    preview_width: Mapped[int | None] = mapped_column(Integer)
    preview_height: Mapped[int | None] = mapped_column(Integer)
    blurhash: Mapped[str | None] = mapped_column(String(128))
    #: Alt text.
    description: Mapped[str | None] = mapped_column(Text)
    focus_x: Mapped[float] = mapped_column(Float, default=0.0)
    focus_y: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=_now)


# --- The structured profile of local people (issue 5, the directory) -------------------------


class Profile(Base):
    """A local person's who-is-who profile: what the directory and the actor document show.

    Plain text throughout (escaped when rendered); lists are JSON arrays of strings.
    ``department`` empty means the node's own name. ``free_fields_json`` holds the person's
    own Mastodon profile fields ({"name", "value"}, value escaped HTML); ``accounts.fields_json``
    is the combined list Mastodon apps see, rewritten with every change.
    """

    __tablename__ = "profiles"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    job_title: Mapped[str] = mapped_column(String(255), default="")
    department: Mapped[str] = mapped_column(String(255), default="")
    location: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    expertise_json: Mapped[str] = mapped_column(Text, default="[]")
    languages_json: Mapped[str] = mapped_column(Text, default="[]")
    #: The manager's actor id, on this node or another.
    manager_uri: Mapped[str | None] = mapped_column(String(2048))
    free_fields_json: Mapped[str] = mapped_column(Text, default="[]")
    #: The field names a person chose for structured fields ({"department": "Afdeling"}).
    labels_json: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[datetime] = mapped_column(default=_now)


# -- The node's own web pages (issue 6) ----------------------------------------------------


class WebSession(Base):
    """A browser signed in to the web pages; the cookie holds a secret, the row its SHA-256.

    ``method`` names how the person signed in (``password`` now; single sign-on later), so a
    second way in adds rows, not columns.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(String(32), default="password")
    #: The CSRF secret of this session's forms (rotated with the session, ASVS 3.2.1).
    csrf_secret: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=_now)
    last_seen_at: Mapped[datetime] = mapped_column(default=_now)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class SiteLink(Base):
    """One link on the start page, the intranet's front door (set by the admin)."""

    __tablename__ = "site_links"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(255), default="")


# --- Settings and admin pages (issue 6, web-B): resets, two-factor, preferences -------------


class PasswordReset(Base):
    """An admin-issued, single-use password reset link; only the token's SHA-256 is kept."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: The admin who issued it (None for ``kantine users reset-link``).
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=_now)


class TwoFactor(Base):
    """A person's TOTP secret (RFC 6238); ``enabled_at`` is empty until a code confirmed it."""

    __tablename__ = "two_factor"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    #: Base32. Kept as is: the only key to encrypt it with would sit in the same database.
    secret: Mapped[str] = mapped_column(String(64))
    enabled_at: Mapped[datetime | None]
    #: The last time step accepted, so a code is never accepted twice (RFC 6238 §5.2).
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class RecoveryCode(Base):
    """A single-use two-factor recovery code; only its SHA-256 is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class AccountPreference(Base):
    """A local person's own choices kept with the account (the page language)."""

    __tablename__ = "account_preferences"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    #: ``nl`` or ``en``; None follows the browser.
    language: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=_now)


class NotificationOptOut(Base):
    """A kind of notification (``favourite``, ``reblog`` …) a local person chose not to get."""

    __tablename__ = "notification_opt_outs"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(32), primary_key=True)


class NodeSetting(Base):
    """A node-wide value the admin set on the admin pages (``description``), over the config."""

    __tablename__ = "node_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=_now)
