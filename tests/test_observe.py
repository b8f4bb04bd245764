"""Observation budgets: the sentences that answer the question are the ones kept."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from interlace.agents._observe import estimate_tokens, fit_observation

PARAGRAPH = (
    "Ed Wood (1924-1978) was an American filmmaker, actor and writer. "
    "In the 1950s he made a number of low-budget films in several genres. "
    "His films were often described as the worst ever made. "
    "Wood was born in Poughkeepsie, New York, where his father worked for the postal service. "
    "He served in the United States Marine Corps during World War II."
)


def test_a_short_observation_is_kept_whole() -> None:
    assert fit_observation("Paris is in France.", "Where is Paris?", 50) == "Paris is in France."


def test_zero_keeps_everything() -> None:
    assert fit_observation(PARAGRAPH, "Where was Ed Wood born?", 0) == PARAGRAPH


def test_the_first_sentence_and_the_relevant_one_are_kept_in_order() -> None:
    got = fit_observation(PARAGRAPH, "In which city was Ed Wood born?", 40)
    assert got.startswith("Ed Wood (1924-1978) was an American filmmaker")
    assert "born in Poughkeepsie" in got
    assert "Marine Corps" not in got and "worst ever made" not in got
    assert got.index("American") < got.index("Poughkeepsie") and "…" in got
    assert estimate_tokens(got) <= 40 + 1


def test_a_first_sentence_longer_than_the_budget_is_cut_at_a_word() -> None:
    got = fit_observation(PARAGRAPH, "filmmaker", 5)
    assert got.endswith(" …") and len(got) <= 5 * 4 + 2 and PARAGRAPH.startswith(got[:-2])


def test_words_the_text_does_not_contain_keep_only_the_first_sentence() -> None:
    got = fit_observation(PARAGRAPH, "zebra quantum", 40)
    assert got.startswith("Ed Wood (1924-1978)") and "Poughkeepsie" not in got


@given(st.text(max_size=400), st.text(max_size=60), st.integers(min_value=0, max_value=80))
def test_never_raises_and_never_grows(text: str, question: str, budget: int) -> None:
    got = fit_observation(text, question, budget)
    assert len(got) <= len(text.strip()) + 2
    if budget and estimate_tokens(text.strip()) > budget:
        assert estimate_tokens(got) <= budget + 1
