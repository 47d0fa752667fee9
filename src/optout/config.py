"""The one Settings object: environment variables ``OPTOUT_*`` and an optional TOML file.

Precedence, highest first: environment, the TOML file named by ``OPTOUT_CONFIG``, defaults.
Every field is documented in the README's configuration table.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from optout.errors import OptoutError


class Settings(BaseSettings):
    """Configuration for every part of optout; validated once at start-up."""

    model_config = SettingsConfigDict(env_prefix="OPTOUT_", extra="forbid")

    data_dir: Path = Path("./optout-data")
    database_url: str | None = None  # default: sqlite file under data_dir
    db_timeout: float = Field(5.0, gt=0)  # seconds a write may wait for a lock
    ingest_domain: str = "ingest.localhost"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(2525, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    http_port: int = Field(8025, ge=0, le=65535)
    http_max_body: int = Field(100 * 1024 * 1024, gt=0)  # bytes a POST may send; more gets 413
    # A request's head (request line and headers) must arrive whole within this many seconds and
    # bytes, or the connection is closed with 408 / 431: slow or huge headers hold no connection
    http_header_timeout: float = Field(10.0, gt=0)
    http_max_header_bytes: int = Field(64 * 1024, ge=1024)
    # With --no-http, /metrics alone on this port (on http_host), so that the SMTP side's
    # metrics can be scraped when the HTTP side runs as a process of its own
    metrics_port: int | None = Field(None, ge=1, le=65535)
    # Where sellers reach the HTTP side, for the sign-in links `optout accounts link` prints
    # (behind the TLS proxy: https://optout.example.com); default: http://http_host:http_port
    public_url: str | None = None
    # Who runs optout for the sellers, shown on every page, with the address a seller writes to
    # for help or a new sign-in link, and a help page if there is one
    operator_name: str | None = None
    operator_contact: str | None = None  # an e-mail address
    help_url: str | None = None
    http_db_connections: int = Field(16, gt=0)  # the HTTP side's pooled database connections
    # seconds a lookup waits for a free pooled connection (PostgreSQL), then 503: short, since a
    # database that is down also shows as no connection to be had, and a sender should hear soon
    http_db_wait: float = Field(1.0, gt=0)
    # GET lookups on PostgreSQL run as this many batches at a time at most; what arrives while
    # they run waits and goes in the next one (http/coalesce.py). About the cores the server has.
    http_db_batches: int = Field(2, gt=0)
    # seconds a pooled lookup connection lives (PostgreSQL), and with it the plans PostgreSQL
    # cached for its lookups: a plan made while the list was small is replaced within this
    http_db_lifetime: float = Field(300.0, gt=0)
    # The changes feed serves a change only once it is this old, so that a transaction that
    # commits up to this long after its timestamp (a big import) is not skipped by a cursor.
    changes_settle: float = Field(60.0, ge=0)  # seconds
    smtp_hostname: str | None = None  # name in the greeting; default: ingest_domain
    max_message_size: int = Field(10 * 1024 * 1024, gt=0)
    max_recipients: int = Field(20, gt=0)
    max_line_length: int = Field(65536, ge=1001)  # RFC 5321 says 1000; real mail is not so tidy
    idle_timeout: float = Field(120.0, gt=0)  # seconds of silence (no byte at all) before closing
    max_transaction_time: float = Field(1800.0, gt=0)  # seconds from MAIL FROM to the end of DATA
    max_connections_per_client: int = Field(20, gt=0)
    max_commands: int = Field(200, gt=0)
    max_unknown_recipients: int = Field(10, gt=0)  # refused RCPTs per client within guess_window
    guess_window: float = Field(600.0, gt=0)  # seconds
    guess_block: float = Field(900.0, gt=0)  # seconds a client past the limit is shut out
    tls_cert: Path | None = None
    tls_key: Path | None = None
    require_starttls: bool = False
    proxy_protocol: bool = False
    # The MTA in front (deploy/postfix): exempt from the per-client connection cap, the
    # per-session command caps and the guessing block, which a busy, well-behaved relay exceeds.
    trusted_relays: str = ""  # comma-separated addresses or networks, e.g. "127.0.0.1/8, ::1"
    group_commit_size: int = Field(64, gt=0)
    worker_timeout: float = Field(120.0, gt=0)
    recognition_timeout: float = Field(5.0, gt=0)  # seconds one message may take to recognise
    log_format: Literal["text", "json"] = "text"

    trust: Literal["any", "dkim"] = "any"
    dkim_keys_file: Path | None = None  # pinned DKIM keys, one "name TXT" a line
    dns_timeout: float = Field(3.0, gt=0)
    daily_new_entries_limit: int = Field(500, gt=0)  # per account per UTC day

    expire_days: int | None = Field(None, gt=0)  # None: entries never expire
    raw_retention_days: int = Field(365, gt=0)
    export_dir: Path | None = None  # default: data_dir/exports
    export_keep: int = Field(14, gt=0)

    @field_validator("trusted_relays")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {part!r}") from None
        return value

    @property
    def relay_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in self.trusted_relays.split(",") if p.strip())

    @field_validator("ingest_domain")
    @classmethod
    def _lower_domain(cls, value: str) -> str:
        return value.strip().lower()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings]
        toml_path = os.environ.get("OPTOUT_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def url(self) -> str:
        """The database URL in force."""
        return self.database_url or f"sqlite:///{self.data_dir / 'optout.db'}"

    @property
    def base_url(self) -> str:
        """The HTTP side's address as sellers reach it, without a trailing slash."""
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @property
    def exports(self) -> Path:
        return self.export_dir or self.data_dir / "exports"


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning a bad value or an unreadable TOML file into one clear error."""
    toml_path = os.environ.get("OPTOUT_CONFIG")
    if toml_path and not Path(toml_path).is_file():
        raise OptoutError(f"config file not found: {toml_path}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise OptoutError(f"bad setting {where}: {first['msg']}") from None
    except ValueError as exc:  # a TOML syntax error surfaces as a ValueError subclass
        raise OptoutError(f"cannot read config file {toml_path}: {exc}") from None
