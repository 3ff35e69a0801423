"""The composition root: the one place that builds genmill's parts from `Settings`.

The API, the workers, the supervisor, the engine host and the CLI all take their parts
from a `Components`; nothing else constructs a database, store, storage, registry, task
service or key ring. Each part is built on first use, so a process gets only what it
touches (the engine host never opens the database; `genmill models` only loads the
registry).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from genmill.config import Settings
from genmill.core.keys import KeyRing
from genmill.core.retention import RetentionSweeper
from genmill.core.service import TaskService
from genmill.core.webhooks import WebhookSecrets
from genmill.engines.registry import Registry, build_registry
from genmill.storage import Storage
from genmill.storage.local import LocalStorage
from genmill.store.connector import Database
from genmill.store.events import EventStore
from genmill.store.tasks import TaskStore


class Components:
    def __init__(self, settings: Settings, pool_size: int = 5) -> None:
        self.settings = settings
        self._pool_size = pool_size

    @cached_property
    def database(self) -> Database:
        return Database(self.settings.db_url, pool_size=self._pool_size)

    @cached_property
    def store(self) -> TaskStore:
        return TaskStore(self.database)

    @cached_property
    def events(self) -> EventStore:
        return EventStore(self.database)

    @cached_property
    def storage(self) -> Storage:
        settings = self.settings
        url = settings.storage_url
        if url.startswith("s3://"):
            from genmill.storage.s3 import S3Storage  # obstore loads only when used

            return S3Storage(url, settings.data_dir / "staging", endpoint=settings.s3_endpoint,
                             public_endpoint=settings.s3_public_endpoint,
                             delivery=settings.output_delivery,
                             presign_seconds=settings.presign_seconds)
        return LocalStorage(Path(url.removeprefix("file://")) if url else settings.data_dir)

    @cached_property
    def registry(self) -> Registry:
        return build_registry(self.settings.plugins, self.settings.model_aliases,
                              self.settings.models_path)

    @cached_property
    def keys(self) -> KeyRing:
        return KeyRing(self.settings.api_keys)

    @cached_property
    def service(self) -> TaskService:
        settings = self.settings
        return TaskService(
            self.store,
            self.registry,
            self.storage,
            max_attempts=settings.max_attempts,
            allow_private_fetch=settings.allow_private_fetch,
            max_pending_per_key=settings.max_pending_per_key,
            webhook_secrets=self.webhook_secrets,
            allow_private_webhooks=settings.allow_private_webhooks,
        )

    @cached_property
    def webhook_secrets(self) -> WebhookSecrets:
        return WebhookSecrets(self.settings.webhook_secret, self.settings.webhook_secrets)

    @cached_property
    def retention(self) -> RetentionSweeper:
        return RetentionSweeper(self.database, self.storage,
                                files_after=self.settings.retention,
                                rows_after=self.settings.retention_tasks,
                                files_after_by_owner=self.settings.retention_keys)

    def close(self) -> None:
        if "database" in self.__dict__:
            self.database.dispose()
