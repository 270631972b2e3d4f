"""Prompts per task, and the validators for the structured ones.

Prompts put facts on ``key: value`` lines. Inputs are cut to the task's ``max_input_tokens``
(about 4 characters a token) so no model ever sees an unbounded text.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from topics.schemas import LeadJob

CHARS_PER_TOKEN = 4

SYSTEM = {
    "clean_content": (
        "You clean scraped website text. Remove navigation, cookie banners, markup and "
        "boilerplate. Keep only what describes the company. Plain text only."
    ),
    "extract_business_info": (
        "You extract facts about a company from its website text. Answer with a JSON object "
        'with the keys "industry", "employee_range", "offering" and "summary".'
    ),
    "classify_lead": (
        'You classify a sales lead. Answer with a JSON object {"label": L} where L is one of '
        '"hot", "warm" or "cold".'
    ),
    "email_final": (
        "You write short, specific cold emails for B2B outreach. Four sentences at most, "
        "no flattery, one clear question at the end. Plain text, no subject line."
    ),
    "subject_line": (
        "You write one subject line for the email below. Under 60 characters, no quotes, "
        "no clickbait."
    ),
    "email_preview": (
        "You write a quick draft of a short cold email so a user can preview the tone. "
        "Plain text, three sentences."
    ),
}


def cut(text: str, max_tokens: int) -> str:
    limit = max_tokens * CHARS_PER_TOKEN
    return text if len(text) <= limit else text[:limit]


def _facts(job: LeadJob) -> str:
    lead = job.lead
    info = job.business_info or {}
    lines = [
        f"company: {lead.company.name}",
        f"domain: {lead.company.domain}",
        f"contact_name: {lead.contact.name}",
        f"contact_title: {lead.contact.title or ''}",
        f"industry: {info.get('industry', '')}",
        f"offering: {info.get('offering', '')}",
        f"summary: {info.get('summary', '')}",
    ]
    if job.classification:
        lines.append(f"lead_temperature: {job.classification}")
    return "\n".join(lines)


def build_prompt(task: str, job: LeadJob, max_input_tokens: int) -> str:
    if task == "clean_content":
        body = f"company: {job.lead.company.name}\nTEXT:\n{job.lead.company.website_text or ''}"
    elif task == "extract_business_info":
        body = f"company: {job.lead.company.name}\nTEXT:\n{job.cleaned_text or ''}"
    elif task == "subject_line":
        body = f"{_facts(job)}\nEMAIL:\n{job.body or ''}"
    else:
        body = _facts(job)
    return cut(body, max_input_tokens)


class BusinessInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    industry: str = Field(max_length=200)
    employee_range: str | None = Field(default=None, max_length=50)
    offering: str | None = Field(default=None, max_length=500)
    summary: str | None = Field(default=None, max_length=2000)


class Classification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    label: Literal["hot", "warm", "cold"]


def _json_object(text: str) -> Any:
    """Parse the first JSON object in ``text`` (models sometimes wrap it in prose)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the answer")
    try:
        return orjson.loads(text[start : end + 1])
    except orjson.JSONDecodeError as e:
        raise ValueError(f"invalid JSON: {e}") from e


def parse_business_info(text: str) -> dict[str, Any]:
    return BusinessInfo.model_validate(_json_object(text)).model_dump()


def parse_classification(text: str) -> str:
    return Classification.model_validate(_json_object(text)).label


def parse_subject(text: str) -> str:
    subject = text.strip().splitlines()[0].strip().strip('"') if text.strip() else ""
    if not subject:
        raise ValueError("empty subject line")
    return subject[:150]


def parse_body(text: str) -> str:
    body = text.strip()
    if not body:
        raise ValueError("empty email body")
    return body
