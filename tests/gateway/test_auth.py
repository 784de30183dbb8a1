"""KeyCheck: bearer keys by name, HTTP Basic on the admin surface only, 401s in OpenAI's shape."""

from __future__ import annotations

import base64

import pytest

from gateway.auth import KeyCheck
from gateway.errors import GatewayError

KEYS = {"alice": "key-alice", "bob": "key-bob"}


def scope(authorization: bytes | None) -> dict:
    headers = [(b"accept", b"*/*")]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    return {"type": "http", "headers": headers}


def basic(user: bytes, password: bytes) -> bytes:
    return b"Basic " + base64.b64encode(user + b":" + password)


def refused(check: KeyCheck, authorization: bytes | None) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        check.check(scope(authorization))
    assert (info.value.status, info.value.code) == (401, "invalid_api_key")
    assert info.value.type == "authentication_error"
    return info.value


def test_an_open_check_lets_everyone_in() -> None:
    check = KeyCheck({})
    assert check.open
    assert check.check(scope(None)) == ""
    assert check.check(scope(b"Bearer anything")) == ""


def test_the_right_key_gives_its_name() -> None:
    check = KeyCheck(KEYS)
    assert not check.open
    assert check.check({"headers": [(b"authorization", b"Bearer key-bob")]}) == "bob"
    assert check.check(scope(b"Bearer key-alice")) == "alice"
    assert check.check(scope(b"bearer   key-alice  ")) == "alice"  # scheme case, spaces


@pytest.mark.parametrize("authorization", [
    None, b"Bearer wrong", b"Bearer ", b"Bearer key-alicex", b"key-alice", b"Token key-alice",
])
def test_a_wrong_or_missing_key_is_a_401(authorization: bytes | None) -> None:
    error = refused(KeyCheck(KEYS), authorization)
    assert "Authorization: Bearer" in error.message
    assert "key-alice" not in error.message
    assert error.headers == {}


def test_the_admin_check_takes_basic_with_the_key_as_password() -> None:
    admin = KeyCheck(KEYS, basic=True)
    assert admin.check(scope(basic(b"anyone", b"key-bob"))) == "bob"
    assert admin.check(scope(basic(b"", b"key-alice"))) == "alice"
    assert admin.check(scope(b"Bearer key-alice")) == "alice"


@pytest.mark.parametrize("authorization", [
    None, b"Bearer wrong", basic(b"key-alice", b""), basic(b"x", b"wrong"),
    b"Basic " + base64.b64encode(b"key-alice"),  # no colon: no password at all
])
def test_an_admin_refusal_asks_for_basic(authorization: bytes | None) -> None:
    error = refused(KeyCheck(KEYS, basic=True), authorization)
    assert error.headers == {"www-authenticate": 'Basic realm="bayesgate admin"'}


def test_a_non_admin_check_does_not_take_basic() -> None:
    error = refused(KeyCheck(KEYS), basic(b"u", b"key-alice"))
    assert "www-authenticate" not in error.headers


@pytest.mark.parametrize("encoded", [b"!!!not-base64!!!", b"a2V5", b"\xff\xfe", b""])
def test_malformed_basic_is_refused_not_a_crash(encoded: bytes) -> None:
    refused(KeyCheck(KEYS, basic=True), b"Basic " + encoded)
