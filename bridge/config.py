"""Settings: the only place that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bridge.errors import ConfigError

__all__ = ["Settings", "environment"]

Dialect = Literal["ga", "beta"]
AudioMode = Literal["passthrough", "pcm16"]

DEFAULT_REALTIME_URL = "wss://api.openai.com/v1/realtime"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "")
    return value or None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable from the environment; see README's settings table."""

    openai_api_key: str | None = None
    realtime_url: str | None = None
    realtime_dialect: Dialect = "ga"
    realtime_model: str = "gpt-realtime"
    openai_base_url: str = "https://api.openai.com/v1"
    public_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    max_calls: int = 0  # 0: unlimited
    audio_mode: AudioMode = "passthrough"
    dialplans_dir: Path = Path("dialplans")
    database_url: str = "sqlite+aiosqlite:///./var/bridge.db"
    data_dir: Path = Path("var/recordings")
    api_token: str | None = None
    retention_days: int = 0  # 0: keep forever
    drain_seconds: int = 30

    @property
    def uses_bundled_engine(self) -> bool:
        """True when no real upstream is configured: ``bridge serve`` then runs the local engine."""
        return self.openai_api_key is None and self.realtime_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (default: ``os.environ``); raise ConfigError on bad values."""
        env = os.environ if env is None else env
        dialect = env.get("BRIDGE_REALTIME_DIALECT", "ga") or "ga"
        if dialect not in ("ga", "beta"):
            raise ConfigError(f"BRIDGE_REALTIME_DIALECT must be 'ga' or 'beta', got {dialect!r}")
        audio_mode = env.get("BRIDGE_AUDIO_MODE", "passthrough") or "passthrough"
        if audio_mode not in ("passthrough", "pcm16"):
            raise ConfigError(f"BRIDGE_AUDIO_MODE must be 'passthrough' or 'pcm16', got {audio_mode!r}")
        max_calls = _int(env, "BRIDGE_MAX_CALLS", 0)
        if max_calls < 0:
            raise ConfigError("BRIDGE_MAX_CALLS must be >= 0")
        return cls(
            openai_api_key=_optional(env, "OPENAI_API_KEY"),
            realtime_url=_optional(env, "BRIDGE_REALTIME_URL"),
            realtime_dialect=dialect,  # type: ignore[arg-type]
            realtime_model=env.get("BRIDGE_REALTIME_MODEL", "") or "gpt-realtime",
            openai_base_url=env.get("BRIDGE_OPENAI_BASE_URL", "") or "https://api.openai.com/v1",
            public_url=_optional(env, "BRIDGE_PUBLIC_URL"),
            twilio_account_sid=_optional(env, "TWILIO_ACCOUNT_SID"),
            twilio_auth_token=_optional(env, "TWILIO_AUTH_TOKEN"),
            twilio_api_url=env.get("BRIDGE_TWILIO_API_URL", "") or "https://api.twilio.com",
            max_calls=max_calls,
            audio_mode=audio_mode,  # type: ignore[arg-type]
            dialplans_dir=Path(env.get("BRIDGE_DIALPLANS", "") or "dialplans"),
            database_url=env.get("BRIDGE_DATABASE_URL", "") or "sqlite+aiosqlite:///./var/bridge.db",
            data_dir=Path(env.get("BRIDGE_DATA_DIR", "") or "var/recordings"),
            api_token=_optional(env, "BRIDGE_API_TOKEN"),
            retention_days=_int(env, "BRIDGE_RETENTION_DAYS", 0),
            drain_seconds=_int(env, "BRIDGE_DRAIN_SECONDS", 30),
        )

    @property
    def effective_realtime_url(self) -> str:
        """The Realtime WebSocket URL to dial (the public API unless overridden)."""
        return self.realtime_url or DEFAULT_REALTIME_URL


def environment() -> Mapping[str, str]:
    """The process environment, for code that takes an ``env`` mapping (this module is the one reader)."""
    return os.environ
