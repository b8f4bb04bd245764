from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from _bench_helpers import SHARED_DATA
from interlace.bench._search import (
    EvidenceStore,
    Page,
    WikipediaSearch,
    movielens_title,
    offline_store,
    split_sentences,
    title_key,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_title_normalisation() -> None:
    assert movielens_title("Matrix, The (1999)") == ("The Matrix", 1999)
    assert movielens_title("Usual Suspects, The (1995)") == ("The Usual Suspects", 1995)
    assert title_key("The Matrix") == title_key("matrix") == "matrix"
    assert title_key("Star Wars: Episode IV - A New Hope") == "star wars episode iv a new hope"
    assert title_key("Amélie") == "amelie"


def test_split_sentences() -> None:
    text = "Ed Wood (1924 – 1978) was a filmmaker.  He made films. Really!"
    assert split_sentences(text) == [
        "Ed Wood (1924 – 1978) was a filmmaker.",
        "He made films.",
        "Really!",
    ]


def _store() -> EvidenceStore:
    store = EvidenceStore()
    store.add(Page(title="Ed Wood", sentences=("S1.", "S2.", "S3."), source="t"))
    store.add(Page(title="Scott Derrickson", sentences=("Scott is a director.",), source="t"))
    store.add(Page(title="Mercury (planet)", sentences=("A planet.",), source="t"))
    store.add(Page(title="The Matrix", sentences=("A movie.",), source="t"), "Matrix, The (1999)")
    return store


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("Ed Wood", "Ed Wood"),
        ("ed wood", "Ed Wood"),
        ("Ed Wood.", "Ed Wood"),
        ('"Ed Wood"', "Ed Wood"),
        ("Mercury", "Mercury (planet)"),
        ("Mercury (planet)", "Mercury (planet)"),
        ("Matrix", "The Matrix"),
        ("Matrix, The (1999)", "The Matrix"),
        ("The Matrix (film)", "The Matrix"),
        ("Scot Derickson", "Scott Derrickson"),
    ],
)
def test_resolution(query: str, title: str) -> None:
    page = _store().resolve(query)
    assert page is not None and page.title == title


def test_search_returns_first_sentences_or_similar() -> None:
    store = _store()
    assert store.search("Ed Wood", sentences=2) == "S1. S2."
    missing = store.search("Edward Woodward Jr Something Else Entirely")
    assert missing.startswith("Could not find") and "Similar:" in missing


def test_official_hotpotqa_format_and_ircot_together(tmp_path: Path) -> None:
    official = tmp_path / "hotpot_dev_distractor.json"
    official.write_text(
        json.dumps(
            [
                {
                    "_id": "x",
                    "question": "q",
                    "answer": "a",
                    "context": [
                        [
                            "Zorblax Tower",
                            ["Zorblax Tower is a tower in Qux.", " It is 300 m tall."],
                        ],
                        ["Quux River", ["The Quux River flows north."]],
                    ],
                }
            ]
        )
    )
    ircot = tmp_path / "ircot.jsonl"
    ircot.write_text(
        json.dumps(
            {
                "question_id": "1",
                "question_text": "q",
                "contexts": [
                    {
                        "id": "0",
                        "title": "Blorp Hall",
                        "paragraph_text": "Blorp Hall is old.  It is red.",
                        "is_supporting": True,
                    }
                ],
            }
        )
        + "\n"
    )
    store = EvidenceStore()
    store.add_hotpotqa(official)
    store.add_hotpotqa(ircot)
    assert store.search("Zorblax Tower") == "Zorblax Tower is a tower in Qux. It is 300 m tall."
    assert store.search("quux river") == "The Quux River flows north."
    assert store.search("Blorp Hall", sentences=1) == "Blorp Hall is old."


def test_movielens_pages(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "movies.csv").write_text(
        'movieId,title,genres\n1,"Matrix, The (1999)",Action|Sci-Fi\n'
    )
    (folder / "tags.csv").write_text(
        "userId,movieId,tag,timestamp\n1,1,cyberpunk,0\n2,1,Cyberpunk,0\n3,1,keanu,0\n"
    )
    store = EvidenceStore()
    store.add_movielens(folder)
    text = store.search("The Matrix")
    assert text == "The Matrix (1999) is a movie. Genres: Action, Sci-Fi. Tags: cyberpunk, keanu."


def test_offline_store_over_shared_data_finds_benchmark_entities() -> None:
    store = offline_store(SHARED_DATA, ("hotpotqa", "wiki"))
    assert "American director" in store.search("Scott Derrickson")
    assert "deepest" in store.search("Mariana Trench")
    movies = offline_store(SHARED_DATA, ("movielens", "wiki"))
    assert movies.search("Star Wars Episode IV - A New Hope").startswith("Star Wars: Episode IV")


@pytest.mark.anyio
async def test_live_wikipedia_with_cache(tmp_path: Path) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("/Ed_Wood"):
            return httpx.Response(200, json={"type": "standard", "extract": "A. B. C."})
        if request.url.path.endswith("/api.php"):
            assert request.url.params["search"] == "Edd Wud"
            return httpx.Response(200, json=["Edd Wud", ["Ed Wood", "Ed Wood (film)"], [], []])
        return httpx.Response(404, json={"type": "not_found"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    wiki = WikipediaSearch(tmp_path, client=client)
    assert await wiki.search("Ed Wood", sentences=2) == "A. B."
    assert await wiki.search("Ed Wood", sentences=2) == "A. B."  # from the cache
    assert calls.count("/api/rest_v1/page/summary/Ed_Wood") == 1
    missing = await wiki.search("Edd Wud")
    assert missing == "Could not find 'Edd Wud'. Similar: Ed Wood, Ed Wood (film)."
    await wiki.aclose()


@pytest.mark.anyio
async def test_live_wikipedia_without_network(tmp_path: Path) -> None:
    from interlace._errors import NetworkUnavailableError

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)

    wiki = WikipediaSearch(
        tmp_path, client=httpx.AsyncClient(transport=httpx.MockTransport(handler))
    )
    with pytest.raises(NetworkUnavailableError):
        await wiki.search("Ed Wood")


def _titles_store() -> EvidenceStore:
    store = EvidenceStore(generic_titles=2)
    for title in (
        "Sahara",
        "Desert",
        "Gobi Desert",
        "Kalahari Desert",
        "Rainforest",
        "Elbe",
        "Congo River",
        "Amazon River",
    ):
        store.add(Page(title=title, sentences=(f"{title} text.",), source="test"))
    return store


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("Sahara Desert", "Sahara"),  # a title plus a generic word
        ("Conga River", "Congo River"),  # a typo
        ("Congo Rainforest", None),  # "congo" is specific: not the generic "Rainforest" page
        ("Mount Elbert", None),  # a short title inside the query is not a match
        ("Atacama Desert", None),  # only the generic word is known
    ],
)
def test_contained_titles_need_generic_leftovers(query: str, title: str | None) -> None:
    page = _titles_store().resolve(query)
    assert (page.title if page else None) == title
