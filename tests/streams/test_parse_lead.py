import orjson
import pytest

from streams.stages import LeadRejected, parse_lead, start_job
from topics.schemas import SourceRef

VALID = {
    "lead_id": "L-1",
    "campaign_id": "winter",
    "company": {"name": "Acme", "domain": "Acme.Example", "website_text": "We build things."},
    "contact": {"name": "Jo Doe", "email": "jo@acme.example", "title": "CTO"},
    "batch": {"id": "b1", "index": 2, "size": 10},
    "preview": False,
}


def encode(**changes: object) -> bytes:
    lead = orjson.loads(orjson.dumps(VALID))
    for path, value in changes.items():
        target = lead
        *parents, leaf = path.split("__")
        for p in parents:
            target = target[p]
        if value is KeyError:
            del target[leaf]
        else:
            target[leaf] = value
    return orjson.dumps(lead)


def test_valid_lead_parses_and_ignores_unknown_fields() -> None:
    raw = orjson.loads(encode())
    raw["crm_id"] = "x-123"
    lead = parse_lead(orjson.dumps(raw))
    assert lead.lead_id == "L-1"
    assert lead.company.domain == "acme.example"  # normalised
    assert lead.batch is not None and lead.batch.index == 2


BAD = [
    ("not json", b"hello there", "invalid_json"),
    ("truncated json", encode()[:40], "invalid_json"),
    ("json null", b"null", "not_an_object"),
    ("array", b"[1, 2]", "not_an_object"),
    ("empty value", b"", "empty_value"),
    ("tombstone", None, "empty_value"),
    ("invalid utf-8", b'{"lead_id": "\xff\xfe"}', "invalid_utf8"),
    ("missing fields", b'{"lead_id": "L-1"}', "validation_failed"),
    ("wrong type: id", encode(lead_id=5), "validation_failed"),
    ("wrong type: preview", encode(preview="yes"), "validation_failed"),
    ("wrong type: batch index", encode(batch__index="2"), "validation_failed"),
    ("invalid contact email", encode(contact__email="jo-at-acme"), "validation_failed"),
    ("bad domain", encode(company__domain="not a domain"), "validation_failed"),
    ("batch index past size", encode(batch__index=10), "validation_failed"),
    ("missing contact", encode(contact=KeyError), "validation_failed"),
]


@pytest.mark.parametrize(("case", "value", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_rejected_with_a_reason(case: str, value: bytes | None, reason: str) -> None:
    with pytest.raises(LeadRejected) as caught:
        parse_lead(value)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_validation_detail_names_the_field() -> None:
    with pytest.raises(LeadRejected) as caught:
        parse_lead(encode(contact__email="jo-at-acme"))
    assert "contact.email" in caught.value.detail


def test_huge_website_text_is_cut_before_any_stage() -> None:
    huge = "x" * 900_000
    lead = parse_lead(encode(company__website_text=huge))
    stage, job = start_job(
        lead,
        ordinal=0,
        max_website_chars=20_000,
        source=SourceRef(topic="leads", partition=0, offset=1),
    )
    assert stage == "clean_content"
    assert job.lead.company.website_text is not None
    assert len(job.lead.company.website_text) == 20_000
    assert job.content_hash


def test_preview_goes_to_the_preview_task_and_batch_sets_position() -> None:
    stage, job = start_job(
        parse_lead(encode(preview=True, batch__index=0)),
        ordinal=7,
        max_website_chars=100,
        source=None,
    )
    assert stage == "email_preview"
    assert job.temperature_position == 0.0  # batch index 0 of 10: the low edge


def test_without_batch_the_stream_ordinal_sets_position() -> None:
    lead = parse_lead(encode(batch=KeyError))
    _, first = start_job(lead, ordinal=0, max_website_chars=100, source=None)
    _, second = start_job(lead, ordinal=1, max_website_chars=100, source=None)
    assert first.temperature_position == 0.5
    assert second.temperature_position != first.temperature_position


def test_lead_generation_is_kept_unless_forced() -> None:
    from streams.stages import lead_generation

    assert lead_generation(None, force=False) == (1, None)
    assert lead_generation(None, force=True) == (1, None)
    seen = {"generation": 3, "position": 0.25}
    assert lead_generation(seen, force=False) == (3, 0.25)
    assert lead_generation(seen, force=True) == (4, 0.25)
