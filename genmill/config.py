"""Settings: command-line flags, then `GENMILL_*` environment variables, then defaults."""

from __future__ import annotations

import ipaddress
import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    # Errors never echo the value: API keys and webhook secrets are settings too.
    model_config = SettingsConfigDict(env_prefix="GENMILL_", extra="ignore",
                                      hide_input_in_errors=True)

    data_dir: Path = Path("./genmill-data")
    database_url: str = ""  # empty: SQLite file in the data dir
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = ""  # base of output URLs; empty: taken from each request
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=0)
    server: str = "auto"  # ASGI server: auto | granian | uvicorn

    # "name:key,name2:key2". Empty: open, and only on a loopback address.
    api_keys: Annotated[dict[str, str], NoDecode] = {}
    plugins: Annotated[list[str], NoDecode] = []  # modules exposing MODELS
    # "hosted/model-id=genmill/local-model,…" or a JSON object
    model_aliases: Annotated[dict[str, str], NoDecode] = {}

    lease_seconds: float = Field(30.0, gt=0)
    max_attempts: int = Field(2, ge=1)
    # An idle worker's claim without a wake-up (SQLite: the wake file, PostgreSQL: NOTIFY),
    # for work that becomes claimable by the clock alone (retry backoffs, expired leases).
    poll_interval: float = Field(0.1, gt=0)
    max_body_bytes: int = 30 * 1024 * 1024
    max_pending_per_key: int = Field(0, ge=0)  # waiting + running tasks a key may have; 0: any
    fetch_max_bytes: int = 20 * 1024 * 1024
    fetch_timeout: float = 20.0
    allow_private_fetch: bool = False  # let input URLs reach loopback/private addresses
    log_json: bool = False
    events_poll_interval: float = Field(0.05, gt=0)  # how often a server reads new events
    # SQLite: how often a server with an open stream checks for a commit (data_version)
    # and reads events only after one; shorter is faster to notice, and costs idle CPU.
    events_check_interval: float = Field(0.01, gt=0)
    events_keepalive: float = Field(15.0, gt=0)  # seconds between SSE keep-alive comments
    # Requests one HTTP process serves at once (granian); each open event stream is one.
    max_concurrent_requests: int = Field(16384, ge=1)
    # On SIGTERM, how long requests in flight may still run before the HTTP process is
    # ended: an event stream never finishes by itself, and would hold a stop forever.
    shutdown_seconds: float = Field(5.0, gt=0, le=3600)

    # Where task files live: "" or file://PATH (the data dir), or s3://bucket/prefix.
    storage_url: str = ""
    s3_endpoint: str = ""  # for S3-compatible servers (SeaweedFS, MinIO, R2); "": AWS
    s3_public_endpoint: str = ""  # what clients reach, for presigned URLs; "": s3_endpoint
    output_delivery: Literal["proxy", "redirect"] = "proxy"  # how remote files reach clients
    presign_seconds: int = Field(300, ge=1, le=7 * 24 * 3600)  # S3's limit is 7 days

    # Retention: files of tasks finished longer ago than this are removed; rows after
    # `retention_tasks`. Durations like 7d, 24h, 90m, 3600s (or seconds). 0: keep.
    retention: Annotated[float, NoDecode] = 0.0
    retention_tasks: Annotated[float, NoDecode] = 0.0
    # Per key name, overriding `retention` for the files of that key's tasks:
    # "alice:1d,bob:30d" (0 keeps that key's files).
    retention_keys: Annotated[dict[str, float], NoDecode] = {}
    retention_sweep_seconds: float = Field(60.0, gt=0)

    metrics_public: bool = False  # let /metrics answer without a key
    # PostgreSQL: remember polled statuses until a notification names their task
    # (api/status_batch.py); 0 reads every poll, strictly monotonic across processes.
    status_memo: bool = True

    # Webhooks (docs/webhooks.md). Signing secrets are "whsec_" + base64 (Standard
    # Webhooks); one for every key, and/or per key name: "alice:whsec_…,bob:whsec_…".
    webhook_secret: SecretStr | None = None
    webhook_secrets: Annotated[dict[str, SecretStr], NoDecode] = {}
    allow_private_webhooks: bool = False  # let webhooks reach loopback/private addresses
    # Seconds before each attempt of a task.completed event, the first included; one
    # attempt per entry. "0,0.2,0.2" makes tests quick.
    webhook_retry_schedule: Annotated[list[float], NoDecode] = [
        0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    webhook_timeout: float = Field(15.0, gt=0)  # seconds per attempt
    webhook_receiver_concurrency: int = Field(4, ge=1)  # attempts in flight per host:port
    webhook_poll_interval: float = Field(0.05, gt=0)  # how often the outbox is read

    # Models from a TOML file (docs/models.md); empty: <data-dir>/models.toml if it exists.
    models_file: Path | None = None
    # GPU indexes for one GPU worker each, "0,1"; unset: every visible CUDA device (when
    # torch is installed), "none": no GPU workers.
    gpus: Annotated[list[int] | None, NoDecode] = None
    model_idle_unload: float = Field(600.0, ge=0)  # seconds before an idle pipeline unloads
    # A worker prefers tasks of the models it has loaded, but never past this many seconds
    # of another task's wait (worker/affinity.py).
    affinity_max_wait: float = Field(30.0, ge=0)
    # Relay tasks (models served by another backend) one relay runner keeps in flight.
    relay_concurrency: int = Field(256, ge=1, le=100_000)
    worker_gpu: int | None = None  # set by the supervisor in a GPU worker's own settings

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        keys: dict[str, str] = {}
        for item in _split_csv(value):  # type: ignore[union-attr]
            name, sep, key = item.partition(":")
            if not sep or not name or not key:
                raise ValueError("GENMILL_API_KEYS must look like name:key,name2:key2")
            keys[name] = key
        return keys

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _check_webhook_secret(cls, value: object) -> object:
        if isinstance(value, str) and value:
            check_webhook_secret(value, "GENMILL_WEBHOOK_SECRET")
        return value or None

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _parse_webhook_secrets(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        secrets: dict[str, str] = {}
        for item in _split_csv(value):  # type: ignore[union-attr]
            name, sep, secret = item.partition(":")
            if not sep or not name.strip():
                raise ValueError("GENMILL_WEBHOOK_SECRETS must look like "
                                 "name:whsec_…,name2:whsec_…")
            secrets[name.strip()] = check_webhook_secret(secret, "GENMILL_WEBHOOK_SECRETS")
        return secrets

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            value = [float(part) for part in _split_csv(value)]  # type: ignore[union-attr]
        if isinstance(value, list) and (not value or any(delay < 0 for delay in value)):
            raise ValueError("GENMILL_WEBHOOK_RETRY_SCHEDULE: one or more delays in seconds, "
                             "none negative, e.g. 0,5,300")
        return value

    @field_validator("retention", "retention_tasks", mode="before")
    @classmethod
    def _parse_duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("retention_keys", mode="before")
    @classmethod
    def _parse_key_retention(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        durations: dict[str, float] = {}
        for item in _split_csv(value):  # type: ignore[union-attr]
            name, sep, duration = item.partition(":")
            if not sep or not name.strip():
                raise ValueError("GENMILL_RETENTION_KEYS must look like name:7d,name2:24h")
            durations[name.strip()] = parse_duration(duration)
        return durations

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, value: str) -> str:
        if value and not value.startswith(("file://", "s3://")):
            raise ValueError("GENMILL_STORAGE_URL must be file://PATH or s3://bucket/prefix")
        if value.startswith("s3://") and not value.removeprefix("s3://").split("/")[0]:
            raise ValueError("GENMILL_STORAGE_URL: s3:// needs a bucket name")
        return value

    @field_validator("plugins", mode="before")
    @classmethod
    def _parse_plugins(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("model_aliases", mode="before")
    @classmethod
    def _parse_aliases(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        value = value.strip()
        if value.startswith("{"):
            import json

            return json.loads(value)
        pairs = {}
        for item in _split_csv(value):  # type: ignore[union-attr]
            alias, sep, target = item.partition("=")
            if not sep:
                raise ValueError("GENMILL_MODEL_ALIASES must look like alias=model,alias2=model2")
            pairs[alias.strip()] = target.strip()
        return pairs

    @field_validator("gpus", mode="before")
    @classmethod
    def _parse_gpus(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().lower() in ("none", "-"):
                return []
            return [int(part) for part in _split_csv(value)]  # type: ignore[union-attr]
        return value

    @cached_property
    def models_path(self) -> Path | None:
        """The models file to load, if any."""
        if self.models_file is not None and str(self.models_file):
            return self.models_file
        default = self.data_dir / "models.toml"
        return default if default.is_file() else None

    @cached_property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'genmill.db').resolve()}"


def check_webhook_secret(secret: str, variable: str) -> str:
    """A Standard Webhooks secret: "whsec_" and base64 of at least 24 bytes. The message
    never repeats the secret."""
    import base64
    import binascii

    secret = secret.strip()
    try:
        raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not secret.startswith("whsec_") or len(raw) < 24:
        raise ValueError(f"{variable}: a secret must be whsec_ followed by base64 of 24 to "
                         "64 random bytes (e.g. whsec_$(openssl rand -base64 32))")
    return secret


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in "7d", "24h", "90m", "30s", "2w" or a plain number; "" is 0 (keep)."""
    text = text.strip().lower()
    if not text:
        return 0.0
    number, unit = (text[:-1], text[-1]) if text[-1] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 7d, 24h, 90m)") from None
    if seconds < 0:
        raise ValueError(f"not a duration: {text!r} (negative)")
    return seconds


class InvalidSettings(ValueError):
    """A GENMILL_* variable or flag with a value Settings refuses."""


def settings_from_flags(**flags: object) -> Settings:
    """Settings with command-line flags winning over GENMILL_* variables. The flags are
    exported as GENMILL_* so that child processes (workers, the ASGI server's app factory)
    see the same settings."""
    for name, value in flags.items():
        if value is not None:
            os.environ[f"GENMILL_{name.upper()}"] = (
                ("1" if value else "0") if isinstance(value, bool) else str(value)
            )
    try:
        return Settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidSettings(str(exc)) from None


def is_loopback_host(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
