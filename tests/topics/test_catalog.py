from __future__ import annotations

from pathlib import Path

from agents.lead_agents import LeadAgents
from streams.app import create_app
from streams.settings import Settings
from topics.catalog import TABLES, TopicNames, changelog_specs


def test_declared_changelogs_are_the_ones_faust_uses(tmp_path: Path) -> None:
    """The worker creates the table changelogs itself before Faust starts; the names and
    the table list must be exactly Faust's, or Faust would create others on its own."""
    settings = Settings(
        COLDSTREAM_APP_ID="catalog-probe",
        COLDSTREAM_STATE_DIR=str(tmp_path),
        COLDSTREAM_TABLE_STORE="memory://",
    )
    app = create_app(settings)
    LeadAgents(app, settings, stages=None)  # type: ignore[arg-type]
    faust_changelogs = {t.changelog_topic.get_topic_name() for t in app.tables.values()}
    assert faust_changelogs == {s.name for s in changelog_specs("catalog-probe")}
    assert len(faust_changelogs) == len(TABLES)
    assert all(dict(s.config)["cleanup.policy"] == "compact" for s in changelog_specs("x"))


def test_every_topic_name_takes_the_prefix() -> None:
    names = TopicNames(prefix="t1.")
    assert all(spec.name.startswith("t1.") for spec in names.specs())
    assert {spec.name for spec in names.specs()} >= {
        "t1.leads",
        "t1.emails",
        "t1.llm.costs",
        "t1.leads.dlq",
        "t1.tasks.dlq",
        "t1.tasks.email_final",
    }
