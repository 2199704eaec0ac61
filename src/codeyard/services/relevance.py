"""How well a task matches short texts such as knowledge triggers (contract §5): stemmed words ranked with BM25.

Words are case-folded, split on anything that is not a letter or digit (so ``billing-service`` is two words),
stripped of English function words and of the framing words triggers are written with ("when working on…"),
and reduced to their Snowball stem, so "analyzing" and "analyze", "files" and "file", "deployment" and
"deploy" are the same word.

Each text is a document of a small corpus (one organization's notes) and the task is the query. BM25 (Okapi,
Lucene's IDF, k1 = 1.2, b = 0.75) ranks the documents. Whether a document applies at all is its *coverage*:
the share of its own BM25 weight that the task's words reach. A trigger whose every word the task uses covers
1.0; one of two equally rare words covers 0.5; a word many notes share weighs less than a rare one. Coverage
does not depend on how long the task is, so one threshold serves a one-line prompt and a page of text.

The corpora are small (hundreds of notes), so the arithmetic is done here in plain Python: a vector library
would add a large dependency and import time for nothing, and would have to be taught the same edge cases.
"""

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

_STOP_WORDS = """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing done down during each either else ever every few for from
    further had has have having he her here hers him his how however i if in into is it its itself just let me
    might more most much must my no nor not now of off on once only or other our ours out over own per please
    same shall she should so some such than that the their theirs them then there these they this those
    through to too under until up upon us very via was we were what whatever when whenever where whether which
    while who whom whose why will with within without would yet you your yours
    s t d ll m re ve don doesn isn aren wasn weren won
    anything everything something task tasks work working works worked
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
"""English function words, plus the framing words triggers are usually written with ("when working on…")."""

K1 = 1.2
B = 0.75
MAX_TERMS = 2000
"""Words of one text that are considered; a prompt of a whole document still ranks in a few milliseconds."""

_WORD = re.compile(r"[^\W_]+")
_STEMMER = Stemmer.Stemmer("english")
_STOP_STEMS = frozenset(_STEMMER.stemWords(sorted(STOP_WORDS)))


@lru_cache(maxsize=4096)
def _stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def terms(text: str) -> list[str]:
    """The stemmed content words of ``text``, in order (repeats kept: BM25 counts them)."""
    found: list[str] = []
    for word in _WORD.findall(text.casefold()):
        if word in STOP_WORDS:
            continue
        stem = _stem(word)
        if stem not in _STOP_STEMS:
            found.append(stem)
            if len(found) >= MAX_TERMS:
                break
    return found


@dataclass(frozen=True)
class Match:
    index: int
    """The document's position in the corpus."""
    coverage: float
    """Share (0 to 1) of the document's own BM25 weight that the query reaches."""
    score: float
    """The document's BM25 score for the query."""


class Corpus:
    """A BM25 index over a few documents, each a list of :func:`terms`."""

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        self._counts = [Counter(document) for document in documents]
        self._lengths = [len(document) for document in documents]
        total = sum(self._lengths)
        self._average = total / len(documents) if documents and total else 1.0
        frequency: Counter[str] = Counter()
        for counts in self._counts:
            frequency.update(counts.keys())
        size = len(documents)
        self._idf = {term: math.log(1 + (size - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}

    def _weight(self, term: str, index: int) -> float:
        tf = self._counts[index][term]
        norm = K1 * (1 - B + B * self._lengths[index] / self._average)
        return self._idf[term] * tf * (K1 + 1) / (tf + norm)

    def rank(self, query: Iterable[str]) -> list[Match]:
        """The documents sharing at least one word with ``query``, best first (coverage, then score, then order)."""
        wanted = set(query)
        matches: list[Match] = []
        for index, counts in enumerate(self._counts):
            shared = wanted.intersection(counts)
            if not shared:
                continue
            full = sum(self._weight(term, index) for term in counts)
            score = sum(self._weight(term, index) for term in shared)
            matches.append(Match(index, score / full if full > 0 else 0.0, score))
        matches.sort(key=lambda m: (-m.coverage, -m.score, m.index))
        return matches


def coverage(text: str, query: str) -> float:
    """How much of ``text`` (a trigger, alone in its corpus) the words of ``query`` cover, from 0 to 1."""
    matches = Corpus([terms(text)]).rank(terms(query))
    return matches[0].coverage if matches else 0.0
