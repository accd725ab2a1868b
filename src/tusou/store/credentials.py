"""Access keys and issued tokens in the metadata store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tusou.store.models import AccessTokenRow, ApiKeyRow


@dataclass(frozen=True)
class ApiKeyRecord:
    api_key: str
    name: str
    created_at: datetime


class CredentialStore:
    def __init__(self, session: sessionmaker[Session]) -> None:
        self._session = session

    def add_key(self, api_key: str, secret_key: str, name: str) -> bool:
        """False if the key already exists."""
        with self._session() as s:
            s.add(ApiKeyRow(api_key=api_key, secret_key=secret_key, name=name))
            try:
                s.commit()
            except IntegrityError:
                return False
            return True

    def remove_key(self, api_key: str) -> bool:
        with self._session() as s:
            row = s.get(ApiKeyRow, api_key)
            if row is None:
                return False
            s.execute(delete(AccessTokenRow).where(AccessTokenRow.api_key == api_key))
            s.delete(row)
            s.commit()
            return True

    def keys(self) -> list[ApiKeyRecord]:
        with self._session() as s:
            rows = s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)).all()
            return [ApiKeyRecord(r.api_key, r.name, r.created_at) for r in rows]

    def secret(self, api_key: str) -> str | None:
        with self._session() as s:
            return s.scalar(select(ApiKeyRow.secret_key).where(ApiKeyRow.api_key == api_key))

    def add_token(self, token_hash: str, api_key: str, expires_at: datetime) -> None:
        with self._session() as s:
            now = datetime.now(UTC)
            # Expired tokens are pruned as new ones are issued.
            s.execute(delete(AccessTokenRow).where(AccessTokenRow.api_key == api_key,
                                                   AccessTokenRow.expires_at < now))
            s.add(AccessTokenRow(token_hash=token_hash, api_key=api_key, expires_at=expires_at))
            s.commit()

    def token(self, token_hash: str) -> tuple[str, datetime] | None:
        with self._session() as s:
            row = s.get(AccessTokenRow, token_hash)
            return None if row is None else (row.api_key, row.expires_at)
