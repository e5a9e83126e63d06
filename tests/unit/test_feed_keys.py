"""The feed key's Secret name and its refresh (server/feed_keys.py), with a fake reader."""

from __future__ import annotations

import asyncio

import pytest

from statuspage_operator.server.feed_keys import keep_fresh, secret_name
from statuspage_operator.server.main import parse_args
from unit.fake_time import eventually


@pytest.mark.parametrize("text", ["name-only", "/name", "ns/", "a/b/c"])
def test_a_secret_is_namespace_slash_name(text: str) -> None:
    """Anything but NAMESPACE/NAME is refused."""
    with pytest.raises(ValueError, match="is not NAMESPACE/NAME"):
        secret_name(text)


def test_flags_are_checked_at_start(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad --trusted-proxy or --feed-key-secret stops the server with a usage error."""
    for bad in (["--trusted-proxy=10.0.0.0/33"], ["--feed-key-secret=nope"]):
        with pytest.raises(SystemExit) as exited:
            parse_args(bad)
        assert exited.value.code == 2
    args = parse_args(["--trusted-proxy=127.0.0.2/32", "--feed-key-secret=ns/key"])
    assert args.trust.trusts("127.0.0.2")
    assert args.feed_key == ("ns", "key")
    assert "error:" in capsys.readouterr().err


def test_the_key_is_read_again_and_a_failure_keeps_the_last() -> None:
    """A rotation reaches the server on a later read; a failing read stores nothing."""
    answers: list[tuple[bytes, ...] | Exception] = [RuntimeError("down"), (b"new",), (b"newer",)]
    stored: list[tuple[bytes, ...]] = []

    def read() -> tuple[bytes, ...]:
        answer = answers.pop(0) if answers else (b"newer",)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def scenario() -> None:
        task = asyncio.create_task(keep_fresh(read, stored.append, interval=0.001))
        await eventually(lambda: len(stored) >= 2)
        task.cancel()

    asyncio.run(scenario())
    assert stored[:2] == [(b"new",), (b"newer",)]
