"""Every topic the pipeline reads or writes, declared once.

All task topics are keyed by company domain and share one partition count, so that the
company-level tables (keyed by domain) are co-partitioned with them.
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES: tuple[str, ...] = (
    "clean_content",
    "extract_business_info",
    "classify_lead",
    "email_final",
    "subject_line",
    "email_preview",
)

#: The order a normal (non-preview) lead walks through the task topics.
LEAD_PATH: tuple[str, ...] = (
    "clean_content",
    "extract_business_info",
    "classify_lead",
    "email_final",
    "subject_line",
)


#: The worker's Faust tables, each backed by a compacted changelog topic
#: ``<app id>-<table>-changelog`` and co-partitioned with the task topics.
RESULTS_TABLE = "results"
BATCH_ORDINALS_TABLE = "batch_ordinals"
LEADS_SEEN_TABLE = "leads_seen"
TABLES: tuple[str, ...] = (RESULTS_TABLE, BATCH_ORDINALS_TABLE, LEADS_SEEN_TABLE)


#: Header on records that `coldstream replay` or `dlq redrive` re-published: the run's id.
REPLAY_HEADER = "coldstream-replay-id"
#: Header asking for a new generation (model calls again) instead of stored results.
FORCE_HEADER = "coldstream-force"
#: Header on records that `coldstream dlq redrive` put back.
REDRIVE_HEADER = "coldstream-redrive-id"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str
    description: str
    #: Extra broker configs, e.g. retention for dead letters.
    config: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Concrete topic names, with an optional prefix (tests and multi-tenant clusters)."""

    prefix: str = ""

    def _n(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def leads(self) -> str:
        return self._n("leads")

    @property
    def emails(self) -> str:
        return self._n("emails")

    @property
    def costs(self) -> str:
        return self._n("llm.costs")

    @property
    def leads_dlq(self) -> str:
        return self._n("leads.dlq")

    @property
    def tasks_dlq(self) -> str:
        return self._n("tasks.dlq")

    def task(self, stage: str) -> str:
        return self._n(f"tasks.{stage}")

    def specs(self) -> list[TopicSpec]:
        keep_month = (("retention.ms", str(30 * 24 * 3600 * 1000)),)
        specs = [
            TopicSpec(self.leads, "company domain", "lead events from upstream systems"),
            # Compacted: keyed by lead_id, it keeps the latest email (highest generation).
            TopicSpec(
                self.emails,
                "lead_id",
                "one generated email per lead",
                (("cleanup.policy", "compact"),),
            ),
            TopicSpec(self.costs, "company domain", "one event per model call attempt"),
            TopicSpec(self.leads_dlq, "company domain", "leads that failed validation", keep_month),
            TopicSpec(
                self.tasks_dlq, "company domain", "tasks whose whole chain failed", keep_month
            ),
        ]
        specs += [
            TopicSpec(self.task(stage), "company domain", f"work for the {stage} task")
            for stage in STAGES
        ]
        return specs


def changelog_topic(app_id: str, table: str) -> str:
    """Faust's name for a table's changelog (app version 1)."""
    return f"{app_id}-{table}-changelog"


def changelog_specs(app_id: str) -> list[TopicSpec]:
    """Declared with the others: if Faust creates them itself while its consumer is starting,
    the consumer can keep a metadata snapshot without them, and every table write then fails
    with PartitionsMismatch (seen on a freshly started broker)."""
    return [
        TopicSpec(
            changelog_topic(app_id, table),
            "table key",
            f"changelog of the {table} table",
            (("cleanup.policy", "compact"),),
        )
        for table in TABLES
    ]


def co_partitioned(names: TopicNames, app_id: str) -> list[str]:
    """Topics Faust requires to share one partition count: the sources and the changelogs."""
    return [
        names.leads,
        *(names.task(stage) for stage in STAGES),
        *(spec.name for spec in changelog_specs(app_id)),
    ]
