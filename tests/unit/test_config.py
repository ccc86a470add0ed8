from __future__ import annotations

import pytest

from bridge.config import Settings
from bridge.errors import ConfigError


def test_defaults_use_bundled_engine() -> None:
    settings = Settings.from_env({})
    assert settings.uses_bundled_engine
    assert settings.realtime_dialect == "ga"
    assert settings.effective_realtime_url == "wss://api.openai.com/v1/realtime"


def test_api_key_selects_openai() -> None:
    settings = Settings.from_env({"OPENAI_API_KEY": "sk-test", "BRIDGE_MAX_CALLS": "5"})
    assert not settings.uses_bundled_engine
    assert settings.max_calls == 5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BRIDGE_REALTIME_DIALECT": "v2"}, "BRIDGE_REALTIME_DIALECT"),
        ({"BRIDGE_MAX_CALLS": "many"}, "BRIDGE_MAX_CALLS must be an integer"),
        ({"BRIDGE_MAX_CALLS": "-1"}, "BRIDGE_MAX_CALLS must be >= 0"),
        ({"BRIDGE_AUDIO_MODE": "opus"}, "BRIDGE_AUDIO_MODE"),
    ],
)
def test_bad_values_raise_config_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
