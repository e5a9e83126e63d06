"""The sign-up ledger's rules: limits, caps, expiry, shards and the stored size bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuspage_operator.api.subscription_tokens import CONFIRM_FOR, address_digest
from statuspage_operator.signup.ledger import (
    EMPTY_LIMITS,
    Entry,
    LimitBook,
    Limits,
    Outcome,
    add_pending,
    admit_client,
    client_digest,
    dump_limits,
    dump_pending,
    keys_of,
    load_limits,
    load_pending,
    mark_mailed,
    page_secret_name,
    prune,
    release_address,
    remove,
    reserve_address,
    shard_names,
    shard_of,
    unexpired,
    unmailed,
    update_choice,
)

NOW = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)
NAMING = b"n" * 32
LIMITS = Limits()
CLIENT = client_digest(NAMING, "203.0.113.7")
ADDRESS = address_digest(NAMING, "ada@example.com")


def sign(
    entries: dict[str, Entry],
    address: str,
    new_id: str,
    now: datetime = NOW,
    max_pending: int = 10,
    components: tuple[str, ...] | None = None,
    limits: Limits = LIMITS,
) -> tuple[Outcome, str | None, dict[str, Entry]]:
    """add_pending on page ns/web, returning the outcome, the pending id and the entries."""
    change = add_pending(
        entries, "ns", "web", address, components, new_id, now, max_pending, limits
    )
    return change.outcome, change.pending.id if change.pending else None, change.entries


def test_page_secret_name_is_stable_and_hides_nothing_else() -> None:
    """A page's Secret name is `signup-page-` and 16 hex of its namespace and name."""
    name = page_secret_name("ns", "web")
    assert name == page_secret_name("ns", "web")
    assert name.startswith("signup-page-")
    assert len(name) == len("signup-page-") + 16
    assert name != page_secret_name("ns", "web2")
    assert name != page_secret_name("ns2", "web")


def test_shard_is_chosen_by_the_first_hex_digit() -> None:
    """An entry lives in the shard of its digest's first hex digit; there are 16 shards."""
    assert shard_of("a0" + "0" * 30) == "signup-limits-a"
    assert shard_of(CLIENT) == f"signup-limits-{CLIENT[0]}"
    assert len(set(shard_names())) == 16


def test_digests_are_keyed_and_keep_nothing_in_clear() -> None:
    """The client digest depends on the naming key and does not contain the client address."""
    assert client_digest(NAMING, "203.0.113.7") != client_digest(b"m" * 32, "203.0.113.7")
    assert "203.0.113.7" not in client_digest(NAMING, "203.0.113.7")
    address, client = keys_of(NAMING, "ada@example.com", "203.0.113.7")
    assert (address, client) == (ADDRESS, CLIENT)
    assert address != client_digest(NAMING, "ada@example.com")


# ---- the client limit


def test_client_gets_five_sign_ups_then_is_limited() -> None:
    """The sixth sign-up within ten minutes is refused and not recorded."""
    book = EMPTY_LIMITS
    for minute in range(5):
        admitted, book = admit_client(book, CLIENT, NOW + timedelta(minutes=minute), LIMITS)
        assert admitted
    admitted, after = admit_client(book, CLIENT, NOW + timedelta(minutes=5), LIMITS)
    assert not admitted
    assert after.clients[CLIENT] == book.clients[CLIENT]


def test_client_window_slides() -> None:
    """Once the oldest sign-up is ten minutes old, one more is allowed (sliding window)."""
    book = EMPTY_LIMITS
    for minute in range(5):
        _, book = admit_client(book, CLIENT, NOW + timedelta(minutes=minute), LIMITS)
    assert not admit_client(book, CLIENT, NOW + timedelta(minutes=9, seconds=59), LIMITS)[0]
    admitted, book = admit_client(book, CLIENT, NOW + timedelta(minutes=10), LIMITS)
    assert admitted
    assert not admit_client(book, CLIENT, NOW + timedelta(minutes=10), LIMITS)[0]


def test_other_clients_are_not_limited_by_one() -> None:
    """One client's flood leaves another client's sign-ups alone."""
    book = EMPTY_LIMITS
    for _ in range(5):
        _, book = admit_client(book, CLIENT, NOW, LIMITS)
    assert admit_client(book, client_digest(NAMING, "198.51.100.1"), NOW, LIMITS)[0]


def test_full_shard_refuses_new_entries() -> None:
    """A shard at its byte bound takes no new entry: fail closed."""
    small = Limits(shard_bytes=200)
    book = EMPTY_LIMITS
    admitted_count = 0
    for n in range(10):
        admitted, book = admit_client(book, client_digest(NAMING, f"10.0.0.{n}"), NOW, small)
        admitted_count += admitted
        assert len(dump_limits(book)) <= 200
    assert 0 < admitted_count < 10
    outcome, _ = reserve_address(book, ADDRESS, NOW, small)
    assert outcome is Outcome.CLIENT_LIMITED


# ---- the address limit


def test_address_mailed_once_an_hour() -> None:
    """A second reservation within the hour is QUIET; after the hour it is MAIL again."""
    outcome, book = reserve_address(EMPTY_LIMITS, ADDRESS, NOW, LIMITS)
    assert outcome is Outcome.MAIL
    later = NOW + timedelta(minutes=59, seconds=59)
    assert reserve_address(book, ADDRESS, later, LIMITS)[0] is Outcome.QUIET
    assert reserve_address(book, ADDRESS, NOW + timedelta(hours=1), LIMITS)[0] is Outcome.MAIL


def test_release_gives_back_only_its_own_reservation() -> None:
    """A release at the reservation's time frees it; a release at another time does not."""
    _, book = reserve_address(EMPTY_LIMITS, ADDRESS, NOW, LIMITS)
    assert ADDRESS in release_address(book, ADDRESS, NOW + timedelta(seconds=5), LIMITS).addresses
    freed = release_address(book, ADDRESS, NOW, LIMITS)
    assert reserve_address(freed, ADDRESS, NOW, LIMITS)[0] is Outcome.MAIL


def test_prune_drops_what_limits_nothing() -> None:
    """Entries older than their window are dropped on every write."""
    _, book = reserve_address(EMPTY_LIMITS, ADDRESS, NOW, LIMITS)
    _, book = admit_client(book, CLIENT, NOW, LIMITS)
    assert prune(book, NOW + timedelta(minutes=30), LIMITS).clients == {}
    assert prune(book, NOW + timedelta(minutes=30), LIMITS).addresses == {
        ADDRESS: book.addresses[ADDRESS]
    }
    assert prune(book, NOW + timedelta(hours=1), LIMITS) == LimitBook({}, {})


# ---- a page's pending sign-ups


def test_new_sign_up_is_pending_for_a_day_unmailed() -> None:
    """A sign-up is stored unmailed, expiring CONFIRM_FOR after now."""
    change = add_pending({}, "ns", "web", "ada@example.com", ("api",), "id1", NOW, 10, LIMITS)
    assert change.outcome is Outcome.MAIL
    assert change.pending is not None
    assert change.pending.expires == NOW + CONFIRM_FOR
    assert change.pending.components == ("api",)
    assert not change.pending.mailed
    assert change.entries["id1"].address == "ada@example.com"


def test_same_address_again_keeps_its_id_and_takes_the_new_choice() -> None:
    """A second sign-up of a pending address refreshes the same entry: no second entry."""
    _, _, entries = sign({}, "ada@example.com", "id1", components=("api",))
    entries = mark_mailed(entries, "id1", NOW)
    later = NOW + timedelta(hours=2)
    outcome, key, entries = sign(entries, "ADA@example.com", "id2", now=later, components=None)
    assert (outcome, key) == (Outcome.MAIL, "id1")
    assert list(entries) == ["id1"]
    assert entries["id1"].components is None
    assert not entries["id1"].mailed
    assert entries["id1"].expires == int((later + CONFIRM_FOR).timestamp())


def test_page_full_at_max_pending() -> None:
    """The page takes max_pending sign-ups; the next is PAGE_FULL and not stored."""
    entries: dict[str, Entry] = {}
    for n in range(3):
        outcome, _, entries = sign(entries, f"p{n}@example.com", f"id{n}", max_pending=3)
        assert outcome is Outcome.MAIL
    outcome, key, after = sign(entries, "late@example.com", "id9", max_pending=3)
    assert (outcome, key) == (Outcome.PAGE_FULL, None)
    assert after == entries


def test_expired_sign_ups_do_not_count_and_are_dropped() -> None:
    """After CONFIRM_FOR a pending sign-up frees its place and is dropped by the next write."""
    _, _, entries = sign({}, "old@example.com", "old", max_pending=1)
    later = NOW + CONFIRM_FOR
    outcome, _, entries = sign(entries, "new@example.com", "new", now=later, max_pending=1)
    assert outcome is Outcome.MAIL
    assert list(entries) == ["new"]


def test_page_bytes_bound_answers_page_full() -> None:
    """A sign-up that would take the page's Secret beyond its bound is PAGE_FULL."""
    small = Limits(page_bytes=300)
    entries: dict[str, Entry] = {}
    outcomes = []
    for n in range(10):
        outcome, _, entries = sign(entries, f"person{n}@example.com", f"id{n}", limits=small)
        outcomes.append(outcome)
        assert len(dump_pending(entries)) <= 300
    assert Outcome.MAIL in outcomes
    assert Outcome.PAGE_FULL in outcomes


def test_quiet_sign_up_updates_the_choice_and_adds_nothing() -> None:
    """Within the hour, a sign-up changes its pending entry's components; none is added."""
    _, _, entries = sign({}, "ada@example.com", "id1", components=("api",))
    change = update_choice(entries, "ns", "web", "ada@example.com", ("db",), NOW, LIMITS)
    assert change.outcome is Outcome.QUIET
    assert change.pending is not None
    assert change.pending.id == "id1"
    assert change.entries["id1"].components == ("db",)
    other = update_choice(entries, "ns", "web", "bob@example.com", ("db",), NOW, LIMITS)
    assert other.pending is None
    assert other.entries == entries


def test_unmailed_waits_for_resume_after() -> None:
    """An unmailed sign-up is to resume only once a live replica would have mailed it."""
    _, _, entries = sign({}, "ada@example.com", "id1")
    _, _, entries = sign(entries, "bob@example.com", "id2")
    entries = mark_mailed(entries, "id2", NOW)
    assert unmailed(entries, "ns", "web", NOW, LIMITS)[0] == []
    resumed, _ = unmailed(entries, "ns", "web", NOW + LIMITS.resume_after, LIMITS)
    assert [p.id for p in resumed] == ["id1"]
    assert unmailed(entries, "ns", "web", NOW + CONFIRM_FOR, LIMITS)[0] == []


def test_a_resumed_sign_up_is_not_resumed_again_at_once() -> None:
    """Once taken up, an unmailed sign-up comes back only resume_after later."""
    _, _, entries = sign({}, "ada@example.com", "id1")
    at = NOW + LIMITS.resume_after
    resumed, entries = unmailed(entries, "ns", "web", at, LIMITS)
    assert [p.id for p in resumed] == ["id1"]
    assert entries["id1"].resumed == int(at.timestamp())
    assert unmailed(entries, "ns", "web", at + timedelta(seconds=59), LIMITS)[0] == []
    again, _ = unmailed(entries, "ns", "web", at + LIMITS.resume_after, LIMITS)
    assert [p.id for p in again] == ["id1"]


def test_signing_up_again_clears_the_resumption() -> None:
    """A sign-up of the same address again is a fresh entry: not mailed, never resumed."""
    _, _, entries = sign({}, "ada@example.com", "id1")
    _, entries = unmailed(entries, "ns", "web", NOW + LIMITS.resume_after, LIMITS)
    _, _, entries = sign(entries, "ada@example.com", "id2", now=NOW + timedelta(hours=1))
    assert entries["id1"].resumed == 0


def test_remove_is_idempotent() -> None:
    """Removing an entry twice is removing it once."""
    _, _, entries = sign({}, "ada@example.com", "id1")
    assert remove(remove(entries, "id1"), "id1") == {}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b'{"x": {"a": "ada@example.com"}}', id="missing-fields"),
        pytest.param(b"", id="empty"),
    ],
)
def test_damaged_books_read_as_empty(raw: bytes) -> None:
    """A damaged stored book is read as having nothing in it, never as an error."""
    assert load_pending(raw) == {}
    assert load_limits(raw) == EMPTY_LIMITS


def test_books_round_trip() -> None:
    """What is dumped loads back the same."""
    _, _, entries = sign({}, "ada@example.com", "id1", components=("api", "db"))
    assert load_pending(dump_pending(entries)) == entries
    _, book = reserve_address(EMPTY_LIMITS, ADDRESS, NOW, LIMITS)
    _, book = admit_client(book, CLIENT, NOW, LIMITS)
    assert load_limits(dump_limits(book)) == book


# ---- the bound, whatever happens

operations = st.lists(
    st.tuples(
        st.sampled_from(["sign", "quiet", "mail", "remove", "client", "address"]),
        st.integers(0, 40),  # who
        st.integers(0, 3 * 24 * 60),  # minutes after NOW
        st.lists(st.text("abcdefghij-", min_size=1, max_size=40), max_size=6),
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(operations, st.integers(1, 30), st.integers(250, 4000), st.integers(150, 3000))
def test_stored_size_never_exceeds_the_bound(
    steps: list[tuple[str, int, int, list[str]]],
    max_pending: int,
    page_bytes: int,
    shard_bytes: int,
) -> None:
    """Whatever sequence of calls, a page book and a limit shard stay within their bounds, and
    a page never holds more than max_pending unexpired sign-ups."""
    limits = Limits(page_bytes=page_bytes, shard_bytes=shard_bytes)
    entries: dict[str, Entry] = {}
    book = EMPTY_LIMITS
    for op, who, minutes, components in sorted(steps, key=lambda s: s[2]):
        now = NOW + timedelta(minutes=minutes)
        address = f"person{who}@example.com"
        if op == "sign":
            _, _, entries = sign(
                entries, address, f"id{who}-{minutes}", now, max_pending, tuple(components), limits
            )
        elif op == "quiet":
            entries = update_choice(
                entries, "ns", "web", address, tuple(components), now, limits
            ).entries
        elif op == "mail":
            entries = mark_mailed(entries, next(iter(entries), ""), now)
        elif op == "remove":
            entries = remove(entries, next(iter(entries), ""))
        elif op == "client":
            _, book = admit_client(book, client_digest(NAMING, str(who)), now, limits)
        else:
            _, book = reserve_address(book, address_digest(NAMING, address), now, limits)
        assert len(dump_pending(entries)) <= max(page_bytes, 2)
        assert len(unexpired(entries, now)) <= max_pending
        assert len(dump_limits(book)) <= max(shard_bytes, len(dump_limits(EMPTY_LIMITS)))
