"""Token counts when a provider reports no usage.

OpenAI models: their real BPE tables (cl100k/o200k) through ``bpe-openai``, which embeds
them. ``tiktoken`` downloads the same tables on first use, which fails offline. Other models:
~4 characters per token. Either way the result is flagged ``estimated_tokens``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

CHARS_PER_TOKEN = 4


@lru_cache(maxsize=64)
def _encoding(model: str) -> Any | None:
    try:
        import bpe_openai

        # encoding_for_model() rejects names its name lookup accepts; go through the name.
        return bpe_openai.get_encoding(bpe_openai.encoding_name_for_model(model))
    except Exception:  # unknown model or library missing: use the heuristic
        return None


def count_tokens(model: str, text: str) -> int:
    encoding = _encoding(model)
    if encoding is not None:
        return max(1, len(encoding.encode(text)))
    return max(1, (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN)
