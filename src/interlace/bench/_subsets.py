"""Named question subsets, e.g. the ParallelQA questions the offline evidence store can answer.

ParallelQA (Kim et al. 2023, Sec. 5.1) asks for arithmetic over 2-5 numeric facts (a depth, a
height, an area, a population). The offline ``search`` tool returns the first five sentences of a
page from ``wiki/summaries_en-us.json`` (or HotpotQA paragraphs), so most questions lack at least
one fact: the page is missing (Puerto Rico Trench, Statue of Unity, CN Tower, Mount Elbert, ...)
or the lead has no number (Pacific Ocean, Peregrine falcon, Florida's first five sentences).

:data:`PARALLELQA_FACTS` lists each fact that *is* returned: the name as the question writes it,
the page title it resolves to ("Sahara Desert" -> "Sahara") and the figure as printed. The subset
``offline``: every needed fact is returned for the names as the question writes them; 33 of 113
questions.

Audited with the store built by :func:`~interlace.bench.offline_store` over the ParallelQA
sources (``wiki``, ``hotpotqa``); ``tests/test_bench_subsets.py`` re-checks every fact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from interlace._errors import UsageError
from interlace.bench._registry import Question, QuestionId


@dataclass(frozen=True, kw_only=True)
class Fact:
    """One numeric fact, as the offline ``search`` tool returns it.

    Attributes:
        name: the entity as the question writes it.
        title: the page the search must resolve to.
        figure: the number as printed in the returned text (units included).
    """

    name: str
    title: str
    figure: str


def _facts(*facts: Fact) -> dict[str, Fact]:
    return {f.name: f for f in facts}


#: Facts the offline store returns, keyed by the entity name as questions write it.
PARALLELQA_FACTS: Mapping[str, Fact] = _facts(
    # population (countries)
    Fact(name="Vietnam", title="Vietnam", figure="102 million"),
    Fact(name="Thailand", title="Thailand", figure="66 million"),
    Fact(name="Japan", title="Japan", figure="123 million"),
    Fact(name="South Korea", title="South Korea", figure="52 million"),
    Fact(name="China", title="China", figure="1.4 billion"),
    # ocean area (the Pacific Ocean lead has no number)
    Fact(name="Atlantic Ocean", title="Atlantic Ocean", figure="85,133,000 square kilometers"),
    Fact(name="Arctic Ocean", title="Arctic Ocean", figure="14,060,000 km2"),
    Fact(name="Indian Ocean", title="Indian Ocean", figure="70,560,000 km2"),
    Fact(name="Southern Ocean", title="Southern Ocean", figure="21,960,000 km2"),
    # heights (mountains, one building; Mount Elbert resolves to "Elbe")
    Fact(name="Mount Everest", title="Mount Everest", figure="8,848.86 m"),
    Fact(name="Mount Kilimanjaro", title="Mount Kilimanjaro", figure="5,895 m"),
    Fact(name="Aconcagua", title="Aconcagua", figure="6,967.15 metres"),
    Fact(name="K2", title="K2", figure="8,611 metres"),
    Fact(name="Burj Khalifa", title="Burj Khalifa", figure="829.8 m"),
    # river length (the Mississippi in miles only)
    Fact(name="Yangtze River", title="Yangtze", figure="6,236 kilometers"),
    Fact(name="Mississippi River", title="Mississippi River", figure="2,340 mi"),
    Fact(name="Volga River", title="Volga", figure="3,531 km"),
    Fact(name="Mekong River", title="Mekong", figure="4,909 km"),
    Fact(name="Congo River", title="Congo River", figure="4,700 km"),
    # desert area (no Sonoran Desert page)
    Fact(name="Sahara Desert", title="Sahara", figure="9,200,000 square kilometres"),
    Fact(name="Kalahari Desert", title="Kalahari Desert", figure="900,000 km2"),
    Fact(name="Arabian Desert", title="Arabian Desert", figure="2,330,000 square kilometers"),
    Fact(name="Atacama Desert", title="Atacama Desert", figure="105,000 km2"),
)

#: ParallelQA ids whose every fact is returned offline -> the facts (keys of PARALLELQA_FACTS).
PARALLELQA_OFFLINE: Mapping[str, tuple[str, ...]] = {
    "3": ("Sahara Desert", "Kalahari Desert"),
    "4": ("Yangtze River", "Mississippi River"),
    "5": ("Mount Everest", "Mount Kilimanjaro"),
    "10": ("Vietnam", "Thailand"),
    "12": ("Mount Everest", "Burj Khalifa"),
    "14": ("Yangtze River", "Mississippi River"),
    "15": ("Mount Everest", "Mount Kilimanjaro"),
    "19": ("Atlantic Ocean", "Arctic Ocean"),
    "20": ("Vietnam", "Japan"),
    "25": ("Yangtze River", "Volga River", "Mekong River"),
    "30": ("Arctic Ocean", "Southern Ocean", "Atlantic Ocean"),
    "31": ("South Korea", "Japan", "China"),
    "34": ("Sahara Desert", "Arabian Desert", "Atacama Desert"),
    "35": ("Mekong River", "Volga River", "Congo River"),
    "41": ("Thailand", "South Korea", "China"),
    "44": ("Sahara Desert", "Arabian Desert", "Kalahari Desert"),
    "45": ("Yangtze River", "Mekong River", "Congo River"),
    "46": ("Mount Everest", "K2", "Aconcagua", "Mount Kilimanjaro"),
    "50": ("Atlantic Ocean", "Indian Ocean", "Arctic Ocean", "Southern Ocean"),
    "51": ("China", "Vietnam", "Japan", "South Korea"),
    "56": ("Yangtze River", "Mississippi River", "Volga River", "Mekong River"),
    "62": ("Vietnam", "Thailand", "South Korea", "Japan"),
    "66": ("Yangtze River", "Mississippi River", "Mekong River", "Volga River"),
    "67": ("Mount Everest", "Mount Kilimanjaro", "Aconcagua", "K2"),
    "72": ("Vietnam", "Thailand", "Japan", "South Korea"),
    "76": ("Yangtze River", "Mississippi River", "Volga River", "Congo River"),
    "82": ("China", "Thailand", "Vietnam", "South Korea", "Japan"),
    # the question spells it "Conga River"; that name fuzzy-resolves to "Congo River"
    "87": ("Yangtze River", "Mississippi River", "Volga River", "Mekong River", "Congo River"),
    "93": ("Vietnam", "Thailand", "South Korea", "Japan", "China"),
    "97": ("Yangtze River", "Mississippi River", "Mekong River", "Volga River", "Congo River"),
    "103": ("South Korea", "Vietnam", "China", "Thailand", "Japan"),
    "107": ("Yangtze River", "Mekong River", "Mississippi River", "Volga River", "Congo River"),
    "113": ("China", "Japan", "Thailand", "South Korea", "Vietnam"),
}


#: ``{benchmark: {subset name: question ids}}``; every benchmark also has ``all``.
SUBSETS: Mapping[str, Mapping[str, tuple[QuestionId, ...]]] = {
    "parallelqa": {
        "offline": tuple(QuestionId(q) for q in PARALLELQA_OFFLINE),
    },
}


def subset_names(benchmark: str) -> list[str]:
    """The subset names ``benchmark`` accepts: ``all`` first, then its named subsets."""
    return ["all", *SUBSETS.get(benchmark, {})]


def select_subset(benchmark: str, questions: Sequence[Question], name: str) -> list[Question]:
    """The questions of subset ``name`` of ``benchmark``, in dataset order.

    Args:
        benchmark: registry name, e.g. ``"parallelqa"``.
        questions: the benchmark's loaded questions.
        name: ``"all"`` or a key of ``SUBSETS[benchmark]``.

    Raises:
        UsageError: ``benchmark`` has no subset called ``name``.
    """
    if name == "all":
        return list(questions)
    ids = SUBSETS.get(benchmark, {}).get(name)
    if ids is None:
        raise UsageError(
            f"{benchmark} has no subset {name!r}; known: {', '.join(subset_names(benchmark))}"
        )
    wanted = set(ids)
    return [q for q in questions if q.id in wanted]
