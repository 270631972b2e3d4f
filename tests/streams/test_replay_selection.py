import orjson

from streams.replay import ReplaySelection, parse_offsets

LEAD = orjson.dumps({"lead_id": "L-1", "campaign_id": "winter"})


def test_offsets_spec() -> None:
    assert parse_offsets(["0:10-20", "3:5-"]) == {0: (10, 20), 3: (5, 2**62)}


def test_selection_by_time_offsets_lead_and_campaign() -> None:
    assert ReplaySelection().wants(0, 1, 1000, LEAD)
    assert not ReplaySelection(since_ms=2000).wants(0, 1, 1000, LEAD)
    assert not ReplaySelection(until_ms=1000).wants(0, 1, 1000, LEAD)
    by_offset = ReplaySelection(offsets={0: (5, 9)})
    assert by_offset.wants(0, 5, 0, LEAD) and by_offset.wants(0, 9, 0, LEAD)
    assert not by_offset.wants(0, 10, 0, LEAD) and not by_offset.wants(1, 5, 0, LEAD)
    assert ReplaySelection(lead_ids=frozenset({"L-1"})).wants(0, 0, 0, LEAD)
    assert not ReplaySelection(lead_ids=frozenset({"L-2"})).wants(0, 0, 0, LEAD)
    assert not ReplaySelection(campaigns=frozenset({"spring"})).wants(0, 0, 0, LEAD)
    assert not ReplaySelection(lead_ids=frozenset({"L-1"})).wants(0, 0, 0, b"not json")
