from pathlib import Path

import pytest

from providers.errors import ConfigError
from providers.routing import FALLBACK_TASK, TASKS, load_profile, seed_timeout

SEED = (Path(__file__).resolve().parents[2] / "providers/profiles/seed.toml").read_text()


@pytest.mark.parametrize("name", ["seed", "default"])
def test_shipped_profiles_are_valid_and_cover_all_tasks(name: str) -> None:
    profile = load_profile(name)
    assert set(profile.tasks) == set(TASKS)
    for spec in profile.models.values():
        assert spec.input_per_1m is not None and spec.price_source


def test_seed_profile_is_the_write_up() -> None:
    profile = load_profile("seed")
    assert profile.tasks["email_final"].chain == ("gpt-4", "claude-3-sonnet", "gpt-3.5-turbo")
    assert profile.tasks["extract_business_info"].chain == ("gpt-4", "claude-3-sonnet")
    assert profile.tasks["subject_line"].temperature == 0.9
    assert profile.tasks["classify_lead"].temperature == 0.1
    assert profile.models["gpt-4"].cost(1000, 1000) == pytest.approx(0.03 + 0.06)


def test_seed_timeouts_follow_get_timeout() -> None:
    assert seed_timeout("gpt-4") == 30
    assert seed_timeout("gpt-4-turbo") == 15
    assert seed_timeout("gpt-3.5-turbo") == 10
    assert seed_timeout("claude-3-haiku") == 8
    assert seed_timeout("claude-3-sonnet") == 15
    assert seed_timeout("mistral-large") == 20
    profile = load_profile("seed")
    assert profile.timeout_for("email_final", "claude-3-sonnet") == 15
    assert profile.timeout_for("subject_line", "gpt-3.5-turbo") == 5  # task override


def test_missing_task_falls_back_to_email_preview(tmp_path: Path) -> None:
    text = (
        SEED.split("[tasks.subject_line]")[0]
        + "[tasks.extract_business_info]"
        + SEED.split("[tasks.extract_business_info]")[1]
    )
    path = tmp_path / "p.toml"
    path.write_text(text)
    profile = load_profile(str(path))
    assert "subject_line" not in profile.tasks
    assert profile.policy("subject_line") == profile.tasks[FALLBACK_TASK]


BAD_EDITS = {
    "unknown model": (
        'chain = ["gpt-4", "claude-3-sonnet"]',
        'chain = ["gpt-4", "gpt-9"]',
        "unknown model 'gpt-9'",
    ),
    "missing price": ("output_per_1m = 60.0", "", "has no price"),
    "temperature out of range": ("temperature = 0.9", "temperature = 3.5", "outside [0, 2]"),
    "empty chain": ('chain = ["gpt-4", "claude-3-sonnet"]', "chain = []", "empty chain"),
    "below quality floor": (
        'chain = ["gpt-4", "claude-3-sonnet"]',
        'chain = ["gpt-4", "gpt-3.5-turbo"]',
        "below the task's floor",
    ),
    "above cost ceiling": (
        "cost_ceiling_usd = 0.12",
        "cost_ceiling_usd = 0.05",
        "above the ceiling",
    ),
    "not toml": ("[tasks.email_final]", "[tasks.email_final", "not valid TOML"),
    "wrong type": ("max_tokens = 300", 'max_tokens = "lots"', "max_tokens"),
}


@pytest.mark.parametrize("kind", sorted(BAD_EDITS))
def test_bad_profiles_fail_with_a_clear_message(tmp_path: Path, kind: str) -> None:
    old, new, expected = BAD_EDITS[kind]
    assert old in SEED
    path = tmp_path / "bad.toml"
    path.write_text(SEED.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_profile(str(path))
    assert expected in str(caught.value)


def test_unknown_profile_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="shipped: default, seed"):
        load_profile("nope")
