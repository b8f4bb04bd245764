"""ScriptedLLM: the scripted test double streams, times, limits and records requests."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from interlace._errors import UsageError
from interlace.llm import Completion, GenerationConfig, Message, TextDelta
from interlace.testing import ScriptedLLM, count_tokens, split_tokens


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _user(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


def test_split_tokens_round_trips() -> None:
    text = "  1. search('a b')\n2. join()\n"
    assert "".join(split_tokens(text)) == text
    assert len(split_tokens(text)) == count_tokens(text) == 5
    assert split_tokens("   ") == ["   "]
    assert split_tokens("") == []


@pytest.mark.anyio
async def test_streams_replies_in_order_and_records_requests() -> None:
    llm = ScriptedLLM(["hello big world", "second"])
    items = [item async for item in llm.stream(_user("a b c"))]
    deltas = [i.text for i in items if isinstance(i, TextDelta)]
    final = items[-1]
    assert deltas == ["hello ", "big ", "world"]
    assert isinstance(final, Completion)
    assert final.text == "hello big world"
    assert final.usage.prompt_tokens == 3
    assert final.usage.completion_tokens == 3
    second = await llm.complete(_user("x"), GenerationConfig(max_tokens=7))
    assert second.text == "second"
    assert [r.messages[0].content for r in llm.requests] == ["a b c", "x"]
    assert llm.requests[1].config.max_tokens == 7


@pytest.mark.anyio
async def test_stop_sequences_and_max_tokens() -> None:
    llm = ScriptedLLM(["Thought: t\nAction: a\nObservation: o", "one two three four"])
    stopped = await llm.complete(_user("q"), GenerationConfig(stop=("Observation:",)))
    assert stopped.text == "Thought: t\nAction: a\n"
    assert stopped.finish_reason == "stop"
    cut = await llm.complete(_user("q"), GenerationConfig(max_tokens=2))
    assert cut.text == "one two "
    assert cut.finish_reason == "length"
    assert cut.usage.completion_tokens == 2


@pytest.mark.anyio
async def test_timing_follows_ttft_and_tpot() -> None:
    llm = ScriptedLLM(["a b c d e"], ttft=0.05, tpot=0.02)
    done = await llm.complete(_user("q"))
    ttft = done.timing.ttft
    tpot = done.timing.tpot(done.usage.completion_tokens)
    assert ttft is not None and 0.045 <= ttft < 0.5
    assert tpot is not None and 0.018 <= tpot < 0.2


@pytest.mark.anyio
async def test_function_replies_see_messages() -> None:
    def reply(messages: Sequence[Message]) -> str:
        return messages[-1].content.upper()

    llm = ScriptedLLM(reply)
    assert (await llm.complete(_user("shout"))).text == "SHOUT"
    assert (await llm.complete(_user("again"))).text == "AGAIN"


@pytest.mark.anyio
async def test_running_out_of_replies_is_a_usage_error() -> None:
    llm = ScriptedLLM(["only one"])
    await llm.complete(_user("q"))
    with pytest.raises(UsageError, match="ran out of replies"):
        await llm.complete(_user("q"))


def test_a_bare_string_is_rejected() -> None:
    with pytest.raises(UsageError, match=r"ScriptedLLM\(\[text\]\)"):
        ScriptedLLM("oops")
