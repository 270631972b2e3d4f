"""Every event schema of the pipeline. The public ones are documented in the README and
exported as JSON Schema by ``coldstream schema``.

Input models ignore unknown fields and are strict about types (``"yes"`` is not a bool).
Output models forbid unknown fields so that a typo in our own code fails a test.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- input: topic `leads` ---------------------------------------------------------------


class Company(_Input):
    name: NonEmpty
    domain: Annotated[str, StringConstraints(to_lower=True, strip_whitespace=True)]
    website_text: str | None = None


class Contact(_Input):
    name: NonEmpty
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    title: NonEmpty | None = None


class Batch(_Input):
    id: Identifier
    index: int = Field(ge=0)
    size: int = Field(ge=1)

    @model_validator(mode="after")
    def _index_in_batch(self) -> Batch:
        if self.index >= self.size:
            raise ValueError(f"batch.index {self.index} must be below batch.size {self.size}")
        return self


class Lead(_Input):
    """A lead event as upstream systems publish it. Key: the company domain (UTF-8)."""

    lead_id: Identifier
    campaign_id: Identifier
    company: Company
    contact: Contact
    batch: Batch | None = None
    preview: bool = False


# The checks that need Python run once, at intake (``IntakeLead``). The envelope re-read at
# every task hop is a plain ``Lead``: types and constraints only, all in pydantic-core.


class IntakeCompany(Company):
    model_config = ConfigDict(title="Company")

    @model_validator(mode="after")
    def _domain_is_hostname(self) -> IntakeCompany:
        if not _DOMAIN.match(self.domain):
            raise ValueError(f"company.domain {self.domain!r} is not a hostname")
        return self


class IntakeContact(Contact):
    model_config = ConfigDict(title="Contact")

    @field_validator("email")
    @classmethod
    def _email_is_valid(cls, value: str) -> str:
        try:
            return validate_email(value)[1]
        except PydanticCustomError as e:
            raise ValueError(str(e)) from e


class IntakeLead(Lead):
    """A lead event as upstream systems publish it. Key: the company domain (UTF-8)."""

    model_config = ConfigDict(title="Lead")

    company: IntakeCompany
    contact: IntakeContact


# --- internal: topics `tasks.*` ---------------------------------------------------------


class SourceRef(_Output):
    topic: str
    partition: int
    offset: int


class LeadJob(BaseModel):
    """The envelope that travels through the task topics, collecting each stage's result."""

    model_config = ConfigDict(extra="forbid")

    lead: Lead
    generation: int = 1
    replay_id: str | None = None
    #: Where this lead sits in its company's temperature band: 0 low edge, 0.5 base, 1 high.
    temperature_position: float = 0.5
    #: Hash of the (already truncated) website text: the company content version.
    content_hash: str | None = None
    cleaned_text: str | None = None
    business_info: dict[str, Any] | None = None
    classification: str | None = None
    body: str | None = None
    subject: str | None = None
    models: dict[str, str] = Field(default_factory=dict)
    temperatures: dict[str, float] = Field(default_factory=dict)
    #: Cost of this lead's own (lead-level) calls so far.
    cost_usd: float = 0.0
    simulated: bool = False
    received_at: float = Field(default_factory=time.time)
    source: SourceRef | None = None


# --- output: topic `emails` --------------------------------------------------------------


class EmailEvent(_Output):
    """One generated email. Key: ``lead_id``."""

    lead_id: str
    campaign_id: str
    company_domain: str
    contact_email: str
    kind: Literal["final", "preview"]
    subject: str
    body: str
    classification: str | None
    models: dict[str, str]
    temperature: float
    cost_usd: float
    generation: int
    replay_id: str | None
    simulated: bool
    lead_received_at: float
    created_at: float


# --- output: topic `llm.costs` -----------------------------------------------------------


class CostEvent(_Output):
    """One model call attempt, failed ones and skipped chain steps included. Key: domain."""

    call_id: str
    #: Shared by all attempts of one task for one lead (or company): the fallback chain walk.
    request_id: str
    lead_id: str | None
    company_domain: str
    campaign_id: str | None
    task: str
    provider: str
    model: str
    temperature: float
    max_tokens: int
    input_tokens: int
    output_tokens: int
    estimated_tokens: bool
    cost_usd: float
    price_version: str
    #: The provider's time for this attempt; our own queueing before it is ``queued_ms``.
    latency_ms: float
    #: Waiting for a free slot for the model and for rate-limit allowance (0 in older events).
    queued_ms: float = 0.0
    attempt: int
    chain_position: int
    outcome: str
    error: str | None
    generation: int
    simulated: bool
    timestamp: float


# --- dead letters: topics `leads.dlq` and `tasks.dlq` ------------------------------------

LeadRejection = Literal[
    "empty_value", "invalid_utf8", "invalid_json", "not_an_object", "validation_failed"
]


class LeadDeadLetter(_Output):
    """A record from `leads` that is not a valid lead; replayable byte for byte."""

    reason: LeadRejection
    detail: str
    source_topic: str
    partition: int
    offset: int
    key_b64: str | None
    value_b64: str | None
    failed_at: float


class AttemptError(_Output):
    provider: str
    model: str
    chain_position: int
    attempt: int
    outcome: str
    error: str | None


class TaskDeadLetter(_Output):
    """A task whose whole chain failed, with every attempt and the full request context."""

    task: str
    reason: Literal["all_models_failed", "invalid_envelope", "internal_error"]
    detail: str
    attempts: list[AttemptError]
    job: LeadJob | None
    #: Raw value (base64) when the envelope itself could not be read.
    value_b64: str | None
    source_topic: str
    partition: int
    offset: int
    failed_at: float


PUBLIC_SCHEMAS: dict[str, type[BaseModel]] = {
    "leads": IntakeLead,
    "emails": EmailEvent,
    "llm.costs": CostEvent,
    "leads.dlq": LeadDeadLetter,
    "tasks.dlq": TaskDeadLetter,
    "tasks.*": LeadJob,
}
