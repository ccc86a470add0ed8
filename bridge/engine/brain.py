"""The engine's scripted brain: deterministic text answers, offline, that still mean something.

``answer(instructions, text)`` replaces a language model for ``POST /v1/responses`` (and so for batch
lines). ``instructions`` is the system-side text, ``text`` what the user sent. The rules:

1. **Summary.** When the instructions mention "summar" (summary, summarise, summarize), the summary is
   the text's first sentences, as many as fit in :data:`SUMMARY_WORDS` words; a longer first sentence is
   cut to that many words and ends with "…". Sentences end at ``.``, ``!``, ``?`` or a line break.
2. **Classification.** When the instructions mention "classif" and list labels as ``labels: a, b, c``
   (comma or ``|`` separated, to the end of that line), the answer is the label whose keywords occur
   most often in the text. A label's keywords are its words (split on spaces, ``_`` and ``-``) of three
   letters or more; words match case-insensitively, ignoring a plural ``s``. Ties go to the label listed
   first. When nothing matches, a label named ``other``, ``unknown`` or ``none`` wins if listed, else the
   first label.
3. **Anything else** is answered ``You said: <summary of the text>``.

The plain-text answer is the label when rule 2 applies, else the summary when rule 1 applies, else rule 3.

**JSON.** With ``json_object=True`` the answer is a JSON object holding ``label`` (rule 2) and/or
``summary`` (rule 1), or ``{"text": <plain answer>}`` when neither applies. With a JSON ``schema`` every
declared property is filled, recursively: a property with an ``enum`` gets the enum value chosen by the
rule 2 keyword count (so a schema alone can drive classification), a string property whose name mentions
"summar" gets the summary, a string property named ``label``, ``category``, ``class``,
``classification``, ``intent`` or ``topic`` gets the rule 2 label when there is one, any other string
the plain answer, numbers 0, booleans false, arrays [] and objects their own properties.

Token counts are whitespace-separated words (:func:`count_tokens`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SUMMARY_WORDS", "answer", "classify", "count_tokens", "labels_in", "summarize"]

SUMMARY_WORDS = 30

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
_LABELS = re.compile(r"labels?\s*:\s*(?P<list>[^\n]+)", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")
_FALLBACK_LABELS = ("other", "unknown", "none")
_LABEL_PROPERTIES = frozenset({"label", "category", "class", "classification", "intent", "topic"})


def count_tokens(text: str) -> int:
    return len(text.split())


def summarize(text: str, max_words: int = SUMMARY_WORDS) -> str:
    """The first sentences of ``text`` that fit in ``max_words`` words (rule 1)."""
    kept: list[str] = []
    used = 0
    for sentence in (s.strip() for s in _SENTENCE_END.split(text.strip())):
        if not sentence:
            continue
        words = sentence.split()
        if not kept and len(words) > max_words:
            return " ".join(words[:max_words]) + "…"
        if used + len(words) > max_words:
            break
        kept.append(" ".join(words))
        used += len(words)
    return " ".join(kept)


def labels_in(instructions: str) -> list[str]:
    """The labels listed as ``labels: a, b, c`` in ``instructions``, in order (empty when none)."""
    found = _LABELS.search(instructions)
    if found is None:
        return []
    labels = (label.strip().strip("\"'`.") for label in re.split(r"[,|]", found["list"]))
    return [label for label in labels if label]


def classify(text: str, labels: Sequence[str]) -> str:
    """The label of ``labels`` whose keywords occur most often in ``text`` (rule 2); labels must not be empty."""
    counts: dict[str, int] = {}
    for word in _WORD.findall(text.lower()):
        stem = _stem(word)
        counts[stem] = counts.get(stem, 0) + 1
    best, best_score = None, 0
    for label in labels:
        keywords = {_stem(word) for word in _WORD.findall(label.lower().replace("_", " ")) if len(word) >= 3}
        score = sum(counts.get(keyword, 0) for keyword in keywords)
        if score > best_score:
            best, best_score = label, score
    if best is not None:
        return best
    fallback = [label for label in labels if label.lower() in _FALLBACK_LABELS]
    return fallback[0] if fallback else labels[0]


def answer(instructions: str, text: str, *, schema: Mapping[str, Any] | None = None, json_object: bool = False) -> str:
    """The brain's reply to ``text`` under ``instructions``: plain text, or JSON text (see module rules)."""
    lowered = instructions.lower()
    summary = summarize(text)
    labels = labels_in(instructions) if "classif" in lowered else []
    label = classify(text, labels) if labels else None
    wants_summary = "summar" in lowered
    plain = label if label is not None else summary if wants_summary else f"You said: {summary}"
    if schema is not None:
        return json.dumps(_fill(schema, "", text, summary, label, plain))
    if json_object:
        reply: dict[str, str] = {}
        if label is not None:
            reply["label"] = label
        if wants_summary:
            reply["summary"] = summary
        return json.dumps(reply or {"text": plain})
    return plain


def _fill(schema: Mapping[str, Any], name: str, text: str, summary: str, label: str | None, plain: str) -> Any:
    """A value for one schema node called ``name`` (see the JSON rules in the module docstring)."""
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return classify(text, [str(value) for value in enum])
    kind = schema.get("type")
    if isinstance(kind, list):  # e.g. ["string", "null"]: the first real type
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {key: _fill(sub, key, text, summary, label, plain) for key, sub in properties.items()}
    if kind == "string":
        if "summar" in name.lower():
            return summary
        if label is not None and name.lower() in _LABEL_PROPERTIES:
            return label
        return plain
    if kind in ("number", "integer"):
        return 0
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    return None


def _stem(word: str) -> str:
    # Singular and plural are the same keyword ("hour", "hours"). Label and text are stemmed alike, so an odd
    # stem such as "statu" (from "status") still matches exactly the words it came from.
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
