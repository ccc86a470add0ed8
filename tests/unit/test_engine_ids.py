"""Realtime-style ID minting (PROTOCOLS G.0)."""

from __future__ import annotations

import re

import pytest

from bridge.engine.ids import EPOCH, IdMinter, decode_seconds


def test_ids_carry_their_minting_second() -> None:
    minter = IdMinter()
    identifier = minter.mint("sess", 1_767_229_435.9)
    assert re.fullmatch(r"sess_[0-9A-Za-z]{21}", identifier)
    assert decode_seconds(identifier) == 1_767_229_435
    # The real server's session from PROTOCOLS G.4 decodes to its expires_at minus 3600.
    assert decode_seconds("sess_Ct1OVZ9vNW62W3cUpSCqj") == 1_767_233_035 - 3600


def test_seeded_minters_repeat_and_unseeded_ones_do_not() -> None:
    def run(minter: IdMinter) -> list[str]:
        return [minter.mint(prefix, 1_767_000_000 + i) for i, prefix in enumerate(("event", "item", "resp"))]

    assert run(IdMinter(3)) == run(IdMinter(3))
    assert run(IdMinter(3)) != run(IdMinter(4))
    assert run(IdMinter()) != run(IdMinter())
    assert len(IdMinter(1).token(13)) == 13


def test_times_outside_the_id_range_are_refused() -> None:
    with pytest.raises(ValueError):
        IdMinter().mint("event", EPOCH + 62**5)
