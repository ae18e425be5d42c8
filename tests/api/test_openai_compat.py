"""The OpenAI-compatible endpoints, driven by the official openai package on the real server."""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest
from openai import OpenAI

#: far from the corpus in every sense: retrieval must abstain
OFF_TOPIC_EN = "Which football club won the 1998 World Cup final?"

pytestmark = pytest.mark.slow

QUESTION = "Was erbt Rutte von Stoltenberg?"


@pytest.fixture
def sdk(server_url: str) -> OpenAI:
    # The SDK insists on a key; natoqa's public endpoints do not check it.
    return OpenAI(base_url=server_url + "/v1", api_key="unused", max_retries=0, timeout=60)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_models_list_natoqa(sdk: OpenAI) -> None:
    assert [m.id for m in sdk.models.list()] == ["natoqa"]
    assert sdk.models.retrieve("natoqa").owned_by == "natoqa"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-4o")


def test_completion_has_markers_sources_and_structured_citations(sdk: OpenAI) -> None:
    completion = sdk.chat.completions.create(model="natoqa", messages=user(QUESTION))
    assert completion.object == "chat.completion" and completion.model == "natoqa"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    content = choice.message.content or ""
    answer, _, sources = content.partition("\n\n**Quellen**\n\n")
    assert "erbt" in answer and sources
    citations = completion.model_extra["citations"]  # type: ignore[index]
    assert citations and citations[0]["n"] == 1
    numbers = {c["n"] for c in citations if c["used"]}
    for n in re.findall(r"\[(\d+)\]", answer):
        assert int(n) in numbers
    assert len(sources.splitlines()) == len(citations)  # every citation listed
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_streamed_completion_equals_the_plain_one(sdk: OpenAI) -> None:
    plain = sdk.chat.completions.create(model="natoqa", messages=user(QUESTION))
    chunks = list(
        sdk.chat.completions.create(
            model="natoqa",
            messages=user(QUESTION),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(final) == 1
    assert final[0].model_extra["citations"] == plain.model_extra["citations"]  # type: ignore[index]
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert len({c.id for c in chunks}) == 1


def test_follow_up_uses_the_conversation(sdk: OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="natoqa",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Was beschloss der Gipfel in Washington zur Ukraine?"},
            {"role": "assistant", "content": "…"},
            {"role": "user", "content": "Und wo soll das neue Hauptquartier sein?"},
        ],
        temperature=0.2,  # accepted and ignored
    )
    assert "Wiesbaden" in (completion.choices[0].message.content or "")


def test_k_can_be_sent_as_extra_body(sdk: OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="natoqa", messages=user(QUESTION), extra_body={"k": 2}
    )
    assert len(completion.model_extra["citations"]) == 2  # type: ignore[index]


def test_errors_surface_as_the_sdk_exceptions(sdk: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        sdk.chat.completions.create(model="gpt-4o", messages=user(QUESTION))
    assert not_found.value.code == "model_not_found"
    assert "natoqa" in not_found.value.message
    with pytest.raises(openai.UnprocessableEntityError) as invalid:
        sdk.chat.completions.create(
            model="natoqa", messages=[{"role": "assistant", "content": "Hallo"}]
        )
    assert "last" in invalid.value.message
    with pytest.raises(openai.UnprocessableEntityError):
        sdk.chat.completions.create(model="natoqa", messages=user("x" * 2001))


def test_content_parts_and_no_answer_in_english(sdk: OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="natoqa",
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": OFF_TOPIC_EN}],
            }
        ],
    )
    assert completion.choices[0].message.content == "I found nothing on this in the sources."
    assert completion.model_extra["no_answer"] is True  # type: ignore[index]
