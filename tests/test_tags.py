"""Tag rules (docs/ARCHITECTURE.md#concepts): pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knitctl import tags
from knitctl.errors import UsageError
from knitctl.tags import Tag

# -- parse --------------------------------------------------------------------------


def test_parse_splits_key_and_value():
    assert tags.parse("project:mnist") == Tag("project", "mnist")


def test_parse_trims_key_and_value():
    assert tags.parse("  project \t:  mnist  ") == Tag("project", "mnist")


def test_key_is_everything_before_the_first_colon():
    t = tags.parse("url:http://example.com:8080/x")
    assert t.key == "url"
    assert t.value == "http://example.com:8080/x"


def test_empty_value_is_allowed():
    assert tags.parse("flag:") == Tag("flag", "")
    assert tags.parse("flag:   ") == Tag("flag", "")


@pytest.mark.parametrize("text", [":value", "   :value", ":", " : "])
def test_empty_key_is_refused(text):
    with pytest.raises(UsageError, match="empty key"):
        tags.parse(text)


@pytest.mark.parametrize("text", ["novalue", "", "   ", "project=mnist"])
def test_text_without_colon_is_refused(text):
    with pytest.raises(UsageError, match="key:value"):
        tags.parse(text)


@pytest.mark.parametrize("text", ["a:b\nc", "a\rb:c", "a:b\0"])
def test_line_breaks_and_nul_are_refused(text):
    with pytest.raises(UsageError, match="single-line"):
        tags.parse(text)


@pytest.mark.parametrize("text", [
    "a:\x1b]0;title\x07", "a:\x1b[2J", "a:b\x07c", "a\x01b:c", "a:b\tc", "a:b\x7fc", "a:b\x9b31m", "a:b\x85c", "a:b\x0bc", "a:b\x85", "\x0ba:b",
])
def test_control_characters_are_refused_and_named(text):
    with pytest.raises(UsageError, match="control character") as e:
        tags.parse(text, where="--tag")
    assert "\x1b" not in e.value.message and "\x07" not in e.value.message and "\x9b" not in e.value.message
    assert e.value.message.startswith("--tag: ")


def test_a_name_tag_with_control_characters_is_refused():
    assert tags.name_tag("day-01") == Tag("name", "day-01")
    with pytest.raises(UsageError, match="control character .x1b"):
        tags.name_tag("n\x1b[2Jx", where="-n /tmp/x")


def test_non_string_is_refused():
    with pytest.raises(UsageError, match="expected a 'key:value' string"):
        tags.parse(42)  # type: ignore[arg-type]


def test_errors_name_where_the_tag_came_from():
    with pytest.raises(UsageError, match=r"^--add: "):
        tags.parse("nocolon", where="--add")


def test_str_round_trips():
    t = Tag("a", "b:c")
    assert str(t) == "a:b:c"
    assert tags.parse(str(t)) == t


_key = st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs", "Cc")), min_size=1, max_size=200).map(str.strip).filter(bool)
_value = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=1000).map(str.strip)


@given(_key, _value)
def test_parse_of_str_is_identity_for_trimmed_tags(key, value):
    assert tags.parse(str(Tag(key, value))) == Tag(key, value)


# -- reserved keys -----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["knit#id", "knit#timestamp", "knit#transient", "knit#anything"])
def test_knit_hash_keys_are_reserved(key):
    assert tags.is_reserved(key)
    assert Tag(key, "x").reserved


@pytest.mark.parametrize("key", ["knit", "knitid", "project", "x#knit#id", "Knit#id"])
def test_other_keys_are_not_reserved(key):
    assert not tags.is_reserved(key)


def test_parse_accepts_reserved_keys_but_parse_user_refuses_them():
    assert tags.parse("knit#id:abc") == Tag("knit#id", "abc")
    with pytest.raises(UsageError, match="reserved prefix"):
        tags.parse_user("knit#id:abc")
    with pytest.raises(UsageError, match="reserved prefix"):
        tags.parse_user("  knit#foo : bar")  # trimming happens before the check


def test_parse_many_keeps_order_and_drops_duplicates():
    got = tags.parse_many(["b:2", "a:1", " b : 2 ", "a:2"])
    assert got == [Tag("b", "2"), Tag("a", "1"), Tag("a", "2")]


def test_parse_many_refuses_reserved_for_users_only():
    with pytest.raises(UsageError):
        tags.parse_many(["ok:1", "knit#id:x"])
    assert tags.parse_many(["knit#id:x"], user=False) == [Tag("knit#id", "x")]


def test_several_values_for_one_key_are_distinct_tags():
    assert len({Tag("k", "1"), Tag("k", "2")}) == 2


# -- time --------------------------------------------------------------------------------


def test_format_time_is_rfc3339_utc_with_milliseconds():
    ms = int(datetime(2026, 1, 31, 12, 34, 56, 789000, tzinfo=UTC).timestamp() * 1000)
    assert tags.format_time(ms) == "2026-01-31T12:34:56.789+00:00"


def test_format_time_pads_milliseconds():
    ms = int(datetime(2026, 1, 31, 0, 0, 1, tzinfo=UTC).timestamp() * 1000) + 7
    assert tags.format_time(ms) == "2026-01-31T00:00:01.007+00:00"


@given(st.integers(min_value=0, max_value=4_102_444_800_000))  # 1970 .. 2100
def test_time_round_trips(ms):
    assert tags.parse_time(tags.format_time(ms)) == ms


def test_parse_time_accepts_z_and_offsets():
    base = tags.parse_time("2026-01-31T12:00:00+00:00")
    assert tags.parse_time("2026-01-31T12:00:00Z") == base
    assert tags.parse_time("2026-01-31T12:00:00z") == base
    assert tags.parse_time("2026-01-31T21:00:00+09:00") == base
    assert tags.parse_time("2026-01-31T12:00:00.250Z") == base + 250


def test_parse_time_without_offset_is_local_time():
    local = datetime(2026, 1, 31, 12, 0, 0).astimezone()
    assert tags.parse_time("2026-01-31T12:00:00") == int(local.timestamp() * 1000)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "", "12:00"])
def test_parse_time_refuses_garbage_naming_where(text):
    with pytest.raises(UsageError, match=r"^--since: .*RFC 3339"):
        tags.parse_time(text, where="--since")


# -- system tags ---------------------------------------------------------------------------


def test_system_tags_of_committed_datum():
    ms = 1_800_000_000_123
    assert tags.system_tags("abc", ms, "done") == [
        Tag("knit#id", "abc"),
        Tag("knit#timestamp", tags.format_time(ms)),
    ]


def test_system_tags_of_failed_datum():
    ms = 1_800_000_000_123
    got = tags.system_tags("abc", ms, "failed")
    assert Tag("knit#transient", "failed") in got
    assert Tag("knit#timestamp", tags.format_time(ms)) in got
    assert got[0] == Tag("knit#id", "abc")


@pytest.mark.parametrize("status", ["processing", "waiting", "running"])
def test_system_tags_of_unfinished_datum(status):
    got = tags.system_tags("abc", None, status)
    assert got == [Tag("knit#id", "abc"), Tag("knit#transient", "processing")]


def test_unfinished_datum_has_no_timestamp_even_if_given_one():
    got = tags.system_tags("abc", 1_800_000_000_000, "processing")
    assert all(t.key != "knit#timestamp" for t in got)


def test_system_tags_are_reserved():
    for t in tags.system_tags("abc", 1, "failed") + tags.system_tags("abc", 1, "done"):
        assert t.reserved


# -- apply_changes --------------------------------------------------------------------------


A1, A2, B1, C1 = Tag("a", "1"), Tag("a", "2"), Tag("b", "1"), Tag("c", "1")


def test_apply_changes_adds_and_removes():
    assert tags.apply_changes({A1, B1}, add=[C1], remove=[B1], remove_keys=[]) == {A1, C1}


def test_removals_happen_before_additions():
    # the same tag removed and added ends up present
    assert tags.apply_changes({A1}, add=[A1], remove=[A1], remove_keys=[]) == {A1}
    # a key removed and a value of it added keeps only the added value
    assert tags.apply_changes({A1, A2, B1}, add=[A2], remove=[], remove_keys=["a"]) == {A2, B1}


def test_absent_removal_and_present_addition_are_no_ops():
    current = {A1, B1}
    assert tags.apply_changes(current, add=[A1], remove=[C1], remove_keys=["zzz"]) == current


def test_remove_key_drops_every_value_of_that_key():
    assert tags.apply_changes({A1, A2, B1}, add=[], remove=[], remove_keys=["a"]) == {B1}


def test_apply_changes_does_not_mutate_its_input():
    current = {A1, B1}
    tags.apply_changes(current, add=[C1], remove=[A1], remove_keys=["b"])
    assert current == {A1, B1}


@given(
    st.sets(st.sampled_from([A1, A2, B1, C1])),
    st.lists(st.sampled_from([A1, A2, B1, C1])),
    st.lists(st.sampled_from([A1, A2, B1, C1])),
    st.lists(st.sampled_from(["a", "b", "c"])),
)
def test_apply_changes_matches_its_definition(current, add, remove, keys):
    got = tags.apply_changes(current, add, remove, keys)
    assert set(add) <= got  # additions always win: they come last
    for t in got - set(add):
        assert t in current and t not in remove and t.key not in keys


def test_later_times_format_to_later_strings():
    # later times format to lexically later strings (same offset, fixed width)
    a = tags.format_time(1_800_000_000_000)
    b = tags.format_time(1_800_000_000_000 + int(timedelta(days=1, milliseconds=1).total_seconds() * 1000))
    assert a < b


def test_overlong_keys_and_values_are_refused():
    assert tags.parse("k:" + "v" * tags.MAX_VALUE).value == "v" * tags.MAX_VALUE
    with pytest.raises(UsageError, match="too long"):
        tags.parse("k:" + "v" * (tags.MAX_VALUE + 1))
    with pytest.raises(UsageError, match="too long"):
        tags.parse("k" * (tags.MAX_KEY + 1) + ":v")
