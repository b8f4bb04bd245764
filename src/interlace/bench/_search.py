"""The ``search`` tool: the first sentences of the best-matching page.

Two backends behind one function:

* :class:`EvidenceStore` (offline): HotpotQA paragraphs (IRCoT processed JSONL and/or the
  official distractor JSON), Wikipedia lead extracts (``wiki/summaries_en-us.json``) and MovieLens
  movies rendered as short pages. Title resolution: exact, then a normalised key (case,
  punctuation, accents, a leading/trailing article as in MovieLens "Matrix, The (1999)"), then
  without a disambiguation suffix ("(film)", "(1999)"), then a typo-tolerant whole-title match
  (rapidfuzz ``ratio`` above a threshold), then a title whose words all occur in the query when
  the query's other words are generic, i.e. occur in many titles ("Sahara Desert" -> "Sahara",
  "Yangtze River" -> "Yangtze"). A title merely contained in the query is not enough when the
  words it leaves out are specific: "Congo Rainforest" does not resolve to "Rainforest", nor
  "Mount Elbert" to "Mount".
* :class:`WikipediaSearch` (live): the public REST summary endpoint over HTTP with an on-disk
  cache; "not found" answers list similar titles from the opensearch API.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from rapidfuzz import fuzz, process

from interlace._errors import DataError, NetworkUnavailableError, ToolExecutionError
from interlace.agents._observe import split_sentences

_SUFFIX = re.compile(r"\s*\([^()]*\)\s*$")
_ML_ARTICLE = re.compile(r"^(.*), (The|A|An|Les|La|Le|Il|El|Das|Die|Der)$")


def title_key(title: str) -> str:
    """Normalised title: accents folded, lowercase, punctuation dropped, leading article dropped."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", " ", folded.lower()).strip()
    return re.sub(r"^(the|a|an) ", "", text)


def movielens_title(raw: str) -> tuple[str, int | None]:
    """``"Matrix, The (1999)"`` -> ``("The Matrix", 1999)``."""
    year = None
    if m := re.search(r"\s*\((\d{4})(?:-\d{4})?\)\s*$", raw):
        year, raw = int(m[1]), raw[: m.start()]
    raw = raw.strip()
    # "Shawshank Redemption, The (a.k.a. X)" -> keep the main title only
    raw = _SUFFIX.sub("", raw) if raw.endswith(")") else raw
    if m := _ML_ARTICLE.match(raw):
        raw = f"{m[2]} {m[1]}"
    return raw, year


@dataclass(frozen=True, kw_only=True)
class Page:
    """One searchable page: a title and its sentences (``source`` names the corpus)."""

    title: str
    sentences: tuple[str, ...]
    source: str


class EvidenceStore:
    """An in-memory offline corpus with robust title lookup.

    Pages added first win when two pages share a normalised title, so add the benchmark's own
    evidence first.

    Args:
        fuzzy_threshold: minimum rapidfuzz ``ratio`` (0-100, whole strings) for a typo match.
        generic_titles: a word that occurs in at least this many titles is generic ("river",
            "desert"): a query may name a title plus generic words.
    """

    def __init__(self, *, fuzzy_threshold: float = 88.0, generic_titles: int = 10) -> None:
        self.fuzzy_threshold = fuzzy_threshold
        self.generic_titles = generic_titles
        self._exact: dict[str, Page] = {}
        self._by_key: dict[str, Page] = {}
        self._by_base: dict[str, Page] = {}
        self._keys: list[str] = []
        self._by_word: defaultdict[str, list[str]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self._by_key)

    def add(self, page: Page, *aliases: str) -> None:
        """Index ``page`` under its title and any ``aliases``."""
        for name in (page.title, *aliases):
            self._exact.setdefault(name, page)
            key = title_key(name)
            if key and key not in self._by_key:
                self._by_key[key] = page
                self._keys.append(key)
                for word in set(key.split()):
                    self._by_word[word].append(key)
            base = title_key(_SUFFIX.sub("", name))
            if base:
                self._by_base.setdefault(base, page)

    def resolve(self, entity: str) -> Page | None:
        """The page for ``entity``, or ``None``."""
        entity = entity.strip().strip("\"'")
        if page := self._exact.get(entity):
            return page
        key = title_key(entity)
        base = title_key(_SUFFIX.sub("", entity))
        for candidate in (self._by_key.get(key), self._by_base.get(key), self._by_base.get(base)):
            if candidate is not None:
                return candidate
        if not key:
            return None
        match = process.extractOne(
            key, self._keys, scorer=fuzz.ratio, score_cutoff=self.fuzzy_threshold
        )
        if match:
            return self._by_key[match[0]]
        contained = self._contained_title(key)
        return self._by_key[contained] if contained else None

    def _contained_title(self, key: str) -> str | None:
        """The longest title key whose words all occur in ``key``, the rest of ``key`` generic.

        A word is generic when at least ``generic_titles`` indexed titles contain it.
        """
        words = set(key.split())
        best: str | None = None
        for candidate in {k for w in words for k in self._by_word.get(w, ())}:
            own = set(candidate.split())
            if not own <= words:
                continue
            rest = words - own
            generic = all(len(self._by_word.get(w, ())) >= self.generic_titles for w in rest)
            if generic and (best is None or (len(candidate), candidate) > (len(best), best)):
                best = candidate
        return best

    def similar(self, entity: str, limit: int = 5) -> list[str]:
        """Titles of the pages closest to ``entity`` (for "not found" messages)."""
        hits = process.extract(title_key(entity), self._keys, scorer=fuzz.WRatio, limit=limit)
        return list(dict.fromkeys(self._by_key[k].title for k, _, _ in hits))

    def search(self, entity: str, sentences: int = 5) -> str:
        """The first ``sentences`` sentences of the best-matching page, or a "not found" text."""
        page = self.resolve(entity)
        if page is None:
            similar = ", ".join(self.similar(entity))
            return (
                f"Could not find {entity!r}. Similar: {similar}."
                if similar
                else (f"Could not find {entity!r}.")
            )
        return " ".join(page.sentences[:sentences])

    # ------------------------------------------------------------------ sources

    def add_hotpotqa(self, path: Path) -> None:
        """Add paragraphs from an IRCoT JSONL file or an official HotpotQA JSON file."""
        text = path.read_text(encoding="utf-8")
        try:
            if text.lstrip().startswith("["):
                rows: Iterable[Any] = json.loads(text)
                for row in rows:
                    for title, sents in row.get("context", []):
                        self.add(
                            Page(
                                title=title,
                                sentences=tuple(s.strip() for s in sents if s.strip()),
                                source="hotpotqa",
                            )
                        )
            else:
                for line in text.splitlines():
                    if not line.strip():
                        continue
                    for ctx in json.loads(line).get("contexts", []):
                        self.add(
                            Page(
                                title=ctx["title"],
                                source="hotpotqa",
                                sentences=tuple(split_sentences(ctx["paragraph_text"])),
                            )
                        )
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path} is neither IRCoT JSONL nor HotpotQA JSON: {exc}") from exc

    def add_wiki(self, path: Path) -> None:
        """Add Wikipedia lead extracts (``{title: {title, extract, ...}}``)."""
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
            for key, row in rows.items():
                title = row.get("title") or key
                self.add(
                    Page(
                        title=title, sentences=tuple(split_sentences(row["extract"])), source="wiki"
                    ),
                    key,
                )
        except (ValueError, KeyError, AttributeError) as exc:
            raise DataError(f"{path} is not a wiki summaries file: {exc}") from exc

    def add_movielens(self, folder: Path, *, top_tags: int = 5) -> None:
        """Add MovieLens movies as short pages (title, year, genres, top tags)."""
        tags: dict[str, Counter[str]] = defaultdict(Counter)
        tags_path = folder / "tags.csv"
        if tags_path.exists():
            with tags_path.open(encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    tags[row["movieId"]][row["tag"].strip().lower()] += 1
        with (folder / "movies.csv").open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                title, year = movielens_title(row["title"])
                self.add(
                    _movie_page(title, year, row["genres"], tags.get(row["movieId"]), top_tags),
                    row["title"],
                )


def _movie_page(
    title: str, year: int | None, genres: str, tags: Counter[str] | None, top: int
) -> Page:
    when = f" ({year})" if year else ""
    sentences = [f"{title}{when} is a movie."]
    if genres and genres != "(no genres listed)":
        sentences.append(f"Genres: {', '.join(genres.split('|'))}.")
    if tags:
        sentences.append(f"Tags: {', '.join(t for t, _ in tags.most_common(top))}.")
    return Page(title=title, sentences=tuple(sentences), source="movielens")


_STORES: dict[tuple[str, tuple[str, ...]], EvidenceStore] = {}


def offline_store(
    root: Path, sources: Sequence[str] = ("hotpotqa", "wiki", "movielens")
) -> EvidenceStore:
    """The evidence store over ``root`` (built once per process and cached).

    Args:
        root: the data directory.
        sources: corpora in priority order; missing corpora are skipped.

    Raises:
        DatasetNotFoundError: none of the sources is present.
    """
    cache_key = (str(root.resolve()), tuple(sources))
    if cached := _STORES.get(cache_key):
        return cached
    store = EvidenceStore()
    for source in sources:
        if source == "hotpotqa":
            for path in sorted((root / "hotpotqa").glob("*.json*")):
                store.add_hotpotqa(path)
        elif source == "wiki" and (root / "wiki/summaries_en-us.json").exists():
            store.add_wiki(root / "wiki/summaries_en-us.json")
        elif source == "movielens" and (root / "movielens/ml-latest-small/movies.csv").exists():
            store.add_movielens(root / "movielens/ml-latest-small")
    if not len(store):
        from interlace._errors import DatasetNotFoundError

        raise DatasetNotFoundError(
            f"no search evidence under {root}; run `interlace data fetch all` or pass --data-dir"
        )
    _STORES[cache_key] = store
    return store


class WikipediaSearch:
    """Live Wikipedia lookups with an on-disk cache (one JSON file per title).

    Args:
        cache_dir: where fetched summaries are kept.
        client: an ``httpx.AsyncClient`` (tests pass one with ``httpx.MockTransport``).
        base: the wiki's base URL.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        client: httpx.AsyncClient | None = None,
        base: str = "https://en.wikipedia.org",
    ) -> None:
        self.cache_dir = cache_dir
        self.base = base.rstrip("/")
        self._client = client or httpx.AsyncClient(
            timeout=20.0, headers={"User-Agent": "interlace-bench (github.com/interlace)"}
        )

    def _cache_path(self, entity: str) -> Path:
        digest = hashlib.sha256(entity.strip().lower().encode()).hexdigest()[:24]
        return self.cache_dir / f"{digest}.json"

    async def _get(self, url: str, **params: str) -> httpx.Response:
        try:
            return await self._client.get(url, params=params or None, follow_redirects=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise NetworkUnavailableError(f"cannot reach {self.base}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise ToolExecutionError(f"Wikipedia request failed: {exc}") from exc

    async def search(self, entity: str, sentences: int = 5) -> str:
        """The first ``sentences`` sentences of ``entity``'s Wikipedia summary, or "not found"."""
        cache = self._cache_path(entity)
        if cache.exists():
            extract = json.loads(cache.read_text(encoding="utf-8"))["extract"]
        else:
            title = quote(entity.strip().replace(" ", "_"), safe="")
            response = await self._get(f"{self.base}/api/rest_v1/page/summary/{title}")
            data = response.json() if response.status_code == 200 else {}
            if response.status_code == 200 and data.get("type") != "disambiguation":
                extract = str(data.get("extract", ""))
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_text(json.dumps({"title": entity, "extract": extract}), "utf-8")
            else:
                similar = await self._similar(entity)
                tail = f" Similar: {', '.join(similar)}." if similar else ""
                return f"Could not find {entity!r}.{tail}"
        return " ".join(split_sentences(extract)[:sentences])

    async def _similar(self, entity: str) -> list[str]:
        response = await self._get(
            f"{self.base}/w/api.php", action="opensearch", search=entity, limit="5", format="json"
        )
        try:
            return [str(t) for t in response.json()[1]]
        except (ValueError, IndexError, TypeError):
            return []

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
