"""Remembered JWT checks (``commerce.auth.verify_token``): the same answers as a fresh check."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commerce.auth import Role, _verified, mint_token, verify_token
from commerce.errors import Unauthorized
from shopflow.config import Settings


def test_a_remembered_token_is_bound_to_its_signing_key(tmp_path) -> None:  # noqa: ANN001
    mine = Settings(home=tmp_path, jwt_secret="a" * 40)
    theirs = Settings(home=tmp_path, jwt_secret="b" * 40)
    token = mint_token("u1", [Role.admin], settings=mine)
    assert verify_token(token, mine).roles == {Role.admin}
    assert token in _verified
    with pytest.raises(Unauthorized, match="^invalid credentials$"):
        verify_token(token, theirs)  # remembered under another key: checked again, refused


def test_an_expired_token_is_never_answered_from_memory(tmp_path) -> None:  # noqa: ANN001
    settings = Settings(home=tmp_path, jwt_secret="c" * 40)
    token = mint_token("u1", ttl=timedelta(hours=1), settings=settings)
    principal = verify_token(token, settings)
    _verified[token] = (settings.jwt_secret, 0.0, principal)  # as if its exp had passed
    with pytest.raises(Unauthorized):
        stale = mint_token("u1", ttl=timedelta(seconds=-1), settings=settings)
        verify_token(stale, settings)
    assert verify_token(token, settings) == principal  # checked afresh: still valid
    assert _verified[token][1] > 0.0
