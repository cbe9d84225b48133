"""The directory's search index: typo-tolerant, accent-blind, ranked, in memory.

Words of every searchable field (name, handle, job title, department, location,
expertise) are folded (``José`` → ``jose``) and kept in one vocabulary; each word points
at the people that have it, per field.  A query word matches vocabulary words exactly,
by prefix, or within a small edit distance (found through a trigram index over the
*vocabulary*, which is far smaller than the people), so ``Jose``, ``jsoe`` and ``jos``
all find José.  Scores add field weight × word similarity; every query word must match
(AND), people who match more words rank first.  Rebuilt from the graph at start-up and
updated on every change.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import heapq
import re
import unicodedata
from array import array
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field

__all__ = ["FIELDS", "Hit", "SearchIndex", "fold", "words"]

#: Searchable fields and how much a match in each counts.
FIELDS: dict[str, float] = {
    "name": 3.0,
    "handle": 2.5,
    "expertise": 2.5,
    "job": 2.0,
    "department": 1.5,
    "location": 1.5,
}
_FIELD_NO = {name: i for i, name in enumerate(FIELDS)}
_HANDLE = _FIELD_NO["handle"]
_WEIGHTS = tuple(FIELDS.values())
_WORD = re.compile(r"[a-z0-9]+")
_MAX_PREFIX_WORDS = 200
_MAX_FUZZY_WORDS = 50
#: Postings this long are kept as sets too (between changes), for fast intersections.
_CACHED_SET = 512
#: At most this many (word, field) matches count per query word.
_MAX_GROUPS = 40
#: Words up to this long get the one-deletion index; longer ones the trigram route.
_SHORT = 8


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower case, accents removed (``Ğülşen José`` → ``gulsen jose``).

    Cached: departments, places, titles and first names repeat across thousands of people.
    """
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The folded words of *text*."""
    return _WORD.findall(fold(text))


def _trigrams(word: str) -> set[str]:
    padded = f"  {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def _deletions(word: str) -> set[str]:
    """The word and every form of it with one letter left out (symmetric-delete lookup)."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def _within(a: str, b: str, limit: int) -> int | None:
    """Levenshtein distance of *a* and *b* (with adjacent swaps) if ≤ *limit*, else None."""
    if abs(len(a) - len(b)) > limit:
        return None
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return None
        previous2, previous = previous, current
    return previous[-1] if previous[-1] <= limit else None


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked result: the person's slot in the index and their score."""

    person: str
    score: float


@dataclass
class _Word:
    #: Per field, the slots of the people that have this word (array of ints).
    postings: list[array[int] | None] = field(default_factory=lambda: [None] * len(FIELDS))
    #: Whether the word is in the typo indexes (trigrams, deletions).
    fuzzy: bool = False


class SearchIndex:
    """Words → people, per field, plus exact facets (department, location, expertise)."""

    def __init__(self) -> None:
        self._slots: dict[str, int] = {}
        self._people: list[str | None] = []
        self._free: list[int] = []
        self._words: dict[str, _Word] = {}
        self._sorted: list[str] = []
        #: The sorted vocabulary is built at the first search, then kept sorted per new word.
        self._sorted_dirty = True
        self._grams: dict[str, set[str]] = {}
        #: Short words by their one-letter-shorter forms: a typo in a short word (a swap,
        #: a wrong, missing or extra letter) shares one of them, where trigrams share few.
        self._deleted: dict[str, set[str]] = {}
        self._person_words: dict[int, str] = {}
        #: Facet value → slots, as arrays (a set costs about 20 times the memory per slot:
        #: some 40 MB at 100,000 people); a search makes a set of the one it narrows by.
        self._facets: dict[tuple[str, str], array[int]] = {}
        self._sets: dict[tuple[str, int], frozenset[int]] = {}
        self._person_facets: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def put(
        self,
        person: str,
        fields: dict[str, Iterable[str]],
        facets: dict[str, Iterable[str]],
    ) -> None:
        """Index (or re-index) *person*: ``fields`` are texts per field, ``facets`` exact values.

        A re-index that changes no word and no facet (a re-sync of an unchanged profile)
        leaves the index alone: removing a slot from a long posting is a linear scan.
        """
        entries: list[tuple[str, int]] = []
        for name, texts in fields.items():
            number = _FIELD_NO[name]
            seen: set[str] = set()
            for text in texts:
                for word in words(text):
                    if word not in seen:
                        seen.add(word)
                        entries.append((word, number))
        # In one order whatever order the values came in (the graph gives them in its own).
        entries.sort(key=lambda entry: (entry[1], entry[0]))
        # One string per person, not a list of tuples: a tenth of the memory at 100,000 people.
        joined = "\x00".join(f"{number}{word}" for word, number in entries)
        keys = sorted(
            {(kind, fold(value).strip()) for kind, values in facets.items() for value in values}
        )
        joined_facets = "\x00".join(f"{kind}\x01{value}" for kind, value in keys)
        slot = self._slots.get(person)
        if (
            slot is not None
            and self._person_words.get(slot) == joined
            and self._person_facets.get(slot) == joined_facets
        ):
            return
        self.remove(person)
        slot = self._free.pop() if self._free else len(self._people)
        if slot == len(self._people):
            self._people.append(person)
        else:
            self._people[slot] = person
        self._slots[person] = slot
        for word, number in entries:
            self._add_word(word, number, slot)
        self._person_words[slot] = joined
        for key in keys:
            members = self._facets.get(key)
            if members is None:
                members = self._facets[key] = array("i")
            members.append(slot)
        self._person_facets[slot] = joined_facets

    def _add_word(self, word: str, number: int, slot: int) -> None:
        entry = self._words.get(word)
        if entry is None:
            entry = self._words[word] = _Word()
            if self._sorted_dirty:
                pass  # sorted in one go at the next search
            else:
                bisect.insort(self._sorted, word)
        # Typo tolerance is for words people type: user names (one per person, so as
        # many as there are people) and numbers are found exactly or by prefix only.
        if not entry.fuzzy and number != _HANDLE and not any(c.isdigit() for c in word):
            entry.fuzzy = True
            for gram in _trigrams(word):
                self._grams.setdefault(gram, set()).add(word)
            if len(word) <= _SHORT:
                for form in _deletions(word):
                    self._deleted.setdefault(form, set()).add(word)
        postings = entry.postings[number]
        if postings is None:
            postings = entry.postings[number] = array("i")
        postings.append(slot)
        if self._sets:
            self._sets.pop((word, number), None)

    def remove(self, person: str) -> None:
        """Take *person* out of the index (nothing happens if they are not in it)."""
        slot = self._slots.pop(person, None)
        if slot is None:
            return
        for item in filter(None, self._person_words.pop(slot, "").split("\x00")):
            self._sets.pop((item[1:], int(item[0])), None)
            postings = self._words[item[1:]].postings[int(item[0])]
            if postings is not None:
                with contextlib.suppress(ValueError):
                    postings.remove(slot)
        for item in filter(None, self._person_facets.pop(slot, "").split("\x00")):
            kind, _, value = item.partition("\x01")
            key = (kind, value)
            members = self._facets.get(key)
            if members is not None:
                with contextlib.suppress(ValueError):
                    members.remove(slot)
                if not members:
                    del self._facets[key]
        self._people[slot] = None
        self._free.append(slot)

    def facet(self, kind: str, value: str) -> set[str]:
        """Everyone whose *kind* (department, location, expertise) is exactly *value* (folded)."""
        return {
            p
            for slot in self._facets.get((kind, fold(value).strip()), ())
            if (p := self._people[slot]) is not None
        }

    def _vocabulary(self) -> list[str]:
        if self._sorted_dirty:
            self._sorted = sorted(self._words)
            self._sorted_dirty = False
        return self._sorted

    def _similar(self, token: str) -> dict[str, float]:
        """Vocabulary words that *token* may mean, with a similarity in (0, 1]."""
        found: dict[str, float] = {}
        if token in self._words:
            found[token] = 1.0
        vocabulary = self._vocabulary()
        if len(token) >= 2:
            start = bisect.bisect_left(vocabulary, token)
            for word in vocabulary[start : start + _MAX_PREFIX_WORDS]:
                if not word.startswith(token):
                    break
                found.setdefault(word, 0.6 + 0.3 * len(token) / len(word))
        if 3 <= len(token) <= _SHORT + 1:
            for form in _deletions(token):
                for word in self._deleted.get(form, ()):
                    if word not in found and _within(token, word, 1) is not None:
                        found[word] = 0.6
        if len(token) >= 5:
            limit = 1 if len(token) <= 6 else 2
            grams = _trigrams(token)
            counts: dict[str, int] = {}
            for gram in grams:
                for word in self._grams.get(gram, ()):
                    counts[word] = counts.get(word, 0) + 1
            # q-gram lemma: one edit (a swap counts as one) destroys at most 4 trigrams, so a word within *limit*
            # edits shares at least this many; only those are worth an edit distance.
            needed = max(1, len(grams) - 4 * limit)
            close = [(w, c) for w, c in counts.items() if c >= needed]
            best = heapq.nlargest(_MAX_FUZZY_WORDS, close, key=lambda kv: kv[1])
            for word, _ in best:
                if word in found:
                    continue
                distance = _within(token, word, limit)
                if distance is not None:
                    found[word] = 0.75 - 0.15 * distance
        return found

    def _members(self, word: str, number: int, postings: array[int]) -> Set[int]:
        """The postings as a set; big ones are kept (until they change) for fast intersections."""
        if len(postings) < _CACHED_SET:
            return set(postings)
        key = (word, number)
        members = self._sets.get(key)
        if members is None:
            members = self._sets[key] = frozenset(postings)
        return members

    def search(
        self,
        text: str,
        *,
        within: Set[int] | None = None,
        limit: int = 20,
    ) -> list[Hit]:
        """The best *limit* people for *text*, optionally only among the slots *within*."""
        tokens = list(dict.fromkeys(words(text)))[:8]
        if not tokens:
            return []
        found: list[list[tuple[float, Set[int]]]] = []
        for token in tokens:
            groups: list[tuple[float, str, int, array[int]]] = []
            for word, similarity in self._similar(token).items():
                for number, postings in enumerate(self._words[word].postings):
                    if postings:
                        groups.append((_WEIGHTS[number] * similarity, word, number, postings))
            if len(tokens) == 1 and within is None:
                return self._top([(g[0], g[3]) for g in groups], limit)
            groups.sort(key=lambda group: -group[0])
            if groups:  # a word that matches nothing (a typo too far) narrows nothing
                found.append([(v, self._members(w, n, p)) for v, w, n, p in groups[:_MAX_GROUPS]])
        if not found:
            return []
        # Everyone who matches every word: start from the rarest word and keep those who
        # match each further one (membership tests, never a union of a common word's sets);
        # failing that, those who match the rarest word.
        order = sorted(range(len(found)), key=lambda i: sum(len(m) for _, m in found[i]))
        first = found[order[0]]
        rarest: set[int] = set().union(*(m for _, m in first))
        if within is not None:
            rarest &= within
        candidates = rarest
        matched = len(found)
        for i in order[1:]:
            matches = found[i]
            narrowed = {slot for slot in candidates if any(slot in m for _, m in matches)}
            if not narrowed:
                candidates, matched = rarest, 1
                break
            candidates = narrowed
        scores: dict[int, float] = {}
        for slot in candidates:
            total = 0.0
            for matches in found:
                for value, members in matches:
                    if slot in members:
                        total += value
                        break
            scores[slot] = total
        ranked = heapq.nlargest(limit, scores, key=lambda slot: (scores[slot], -slot))
        share = min(matched, len(found)) / len(tokens)
        return [
            Hit(person, round(scores[slot] * share, 3))
            for slot in ranked
            if (person := self._people[slot]) is not None
        ]

    def facet_slots(self, kind: str, value: str) -> Set[int]:
        """The slots of everyone whose *kind* is exactly *value* (for :meth:`search`)."""
        return set(self._facets.get((kind, fold(value).strip()), ()))

    def person(self, slot: int) -> str | None:
        """Who holds *slot*."""
        return self._people[slot]

    def _top(self, groups: list[tuple[float, array[int]]], limit: int) -> list[Hit]:
        """One word, no filter: walk the postings from the best match down (no full sort)."""
        seen: set[int] = set()
        out: list[Hit] = []
        for value, postings in sorted(groups, key=lambda group: -group[0]):
            for slot in postings:
                if slot in seen:
                    continue
                seen.add(slot)
                person = self._people[slot]
                if person is not None:
                    out.append(Hit(person, round(value, 3)))
                    if len(out) >= limit:
                        return out
        return out

    def people(self) -> Sequence[str]:
        """Everyone in the index."""
        return list(self._slots)
