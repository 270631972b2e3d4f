"""Deterministic sample leads (the demo's bundled file, and load tests)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

_PREFIXES = (
    "north",
    "blue",
    "bright",
    "iron",
    "swift",
    "clear",
    "green",
    "summit",
    "harbor",
    "pioneer",
    "silver",
    "oak",
    "atlas",
    "nova",
    "vertex",
    "cedar",
    "delta",
    "echo",
)
_SUFFIXES = (
    "freight",
    "ledger",
    "health",
    "goods",
    "works",
    "labs",
    "systems",
    "logistics",
    "supply",
    "metrics",
    "foods",
    "robotics",
)
_FIRST = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Femi",
    "Grace",
    "Hugo",
    "Iris",
    "Jonas",
    "Kira",
    "Liam",
    "Maya",
    "Nico",
    "Olga",
    "Priya",
    "Quinn",
    "Ravi",
    "Sara",
    "Tom",
)
_LAST = (
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Silva",
    "Novak",
    "Haddad",
    "Keller",
    "Murphy",
    "Rossi",
    "Kowalski",
    "Nguyen",
)
_TITLES = (
    "Head of Operations",
    "VP Sales",
    "CTO",
    "Founder",
    "Procurement Lead",
    "Marketing Director",
    None,
)


def website_text(rng: random.Random, name: str, industry: str) -> str:
    nav = "<nav>Home | About | Careers | Contact</nav> Accept cookies? <button>OK</button>"
    about = (
        f"<h1>{name}</h1><p>{name} builds {industry} software for mid-sized teams. "
        f"Founded in {rng.randrange(1995, 2023)}, we serve {rng.randrange(20, 900)} customers "
        f"across {rng.randrange(2, 30)} countries.</p>"
    )
    return nav + about * rng.randrange(1, 4) + "<footer>(c) all rights reserved</footer>"


def generate_leads(
    *,
    companies: int,
    per_company: int,
    seed: int = 7,
    campaign: str = "winter",
    previews_every: int = 0,
    run: str = "",
) -> Iterator[dict[str, Any]]:
    """Leads grouped by company; every other company publishes batch index and size."""
    rng = random.Random(seed)
    industries = ("logistics", "fintech", "healthcare", "retail", "manufacturing", "software")
    n = 0
    for c in range(companies):
        name = f"{_PREFIXES[c % len(_PREFIXES)].title()} {_SUFFIXES[c % len(_SUFFIXES)].title()}"
        domain = f"{_PREFIXES[c % len(_PREFIXES)]}-{_SUFFIXES[c % len(_SUFFIXES)]}-{c}.example"
        industry = industries[c % len(industries)]
        text = website_text(rng, name, industry) if c % 4 != 3 else None
        for i in range(per_company):
            n += 1
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            lead: dict[str, Any] = {
                "lead_id": f"{run}L-{n:05d}",
                "campaign_id": campaign,
                "company": {"name": name, "domain": domain},
                "contact": {
                    "name": f"{first} {last}",
                    "email": f"{first.lower()}.{last.lower()}{n}@{domain}",
                },
            }
            if text is not None:
                lead["company"]["website_text"] = text
            title = rng.choice(_TITLES)
            if title:
                lead["contact"]["title"] = title
            if c % 2 == 0:
                lead["batch"] = {"id": f"{domain}-{campaign}", "index": i, "size": per_company}
            if previews_every and n % previews_every == 0:
                lead["preview"] = True
            yield lead
