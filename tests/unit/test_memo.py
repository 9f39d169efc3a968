"""The conversion memo behind the ingest path's timestamps (`vigil.memo.Memo`)."""

from __future__ import annotations

from vigil.memo import Memo


def test_a_value_is_converted_once_and_fixed_entries_outlive_starting_over() -> None:
    calls: list[int] = []

    def double(value: int) -> int:
        calls.append(value)
        return value * 2

    memo = Memo(double, fixed={None: None}, kept=3)
    convert = memo.__getitem__
    assert [convert(1), convert(1), convert(None)] == [2, 2, None]
    assert calls == [1]
    for value in range(2, 10):  # past `kept`: it starts over, with None still there
        assert convert(value) == value * 2
    assert len(memo) <= 5
    assert convert(None) is None
    assert None not in calls
