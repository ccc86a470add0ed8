"""Shared fixtures: paths to shared test audio and project fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _shared_audio() -> Path:
    # shared/ sits beside the checkout (../shared) on developer machines and in CI.
    return ROOT.parent / "shared" / "audio"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def shared_audio() -> Path:
    path = _shared_audio()
    if not path.is_dir():
        pytest.skip("shared/audio is not beside the checkout")
    return path
