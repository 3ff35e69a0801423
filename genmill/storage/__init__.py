"""Where task files live: the `Storage` protocol and its implementations."""

from genmill.storage.base import Storage, StoredFile, is_safe_name

__all__ = ["Storage", "StoredFile", "is_safe_name"]
