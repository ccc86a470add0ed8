from __future__ import annotations

import json

import jsonschema

from bridge.engine.brain import SUMMARY_WORDS, answer, classify, count_tokens, labels_in, summarize

CALL = (
    "Hi, I would like to check the status of my order please. It was order 4711. "
    "I ordered a blue jacket two weeks ago and it still has not arrived at my house."
)
LABELS = "Classify the caller's intent. labels: billing, order_status, opening_hours, other"


def test_summary_keeps_whole_first_sentences_within_the_word_budget() -> None:
    assert summarize(CALL) == (
        "Hi, I would like to check the status of my order please. It was order 4711."
    )  # the third sentence would pass 30 words


def test_a_long_first_sentence_is_cut_at_the_budget() -> None:
    long = " ".join(f"w{i}" for i in range(40)) + ". Next."
    summary = summarize(long)
    assert summary == " ".join(f"w{i}" for i in range(SUMMARY_WORDS)) + "…"


def test_line_breaks_end_sentences_and_blank_input_is_empty() -> None:
    assert summarize("caller: hello\nagent: hi there", max_words=2) == "caller: hello"
    assert summarize("   ") == ""


def test_labels_are_read_from_the_instructions() -> None:
    assert labels_in(LABELS) == ["billing", "order_status", "opening_hours", "other"]
    assert labels_in("Label: 'yes' | 'no'.\nThen stop.") == ["yes", "no"]
    assert labels_in("no list here") == []


def test_classification_counts_keywords_with_plurals() -> None:
    assert classify(CALL, labels_in(LABELS)) == "order_status"
    assert classify("What are your opening hours on Saturday?", labels_in(LABELS)) == "opening_hours"
    assert classify("Is the shop open at this hour?", ["opening_hours", "billing"]) == "opening_hours"


def test_ties_go_to_the_first_label_and_no_match_to_other() -> None:
    assert classify("my order bill", ["order", "bill"]) == "order"
    assert classify("good morning", labels_in(LABELS)) == "other"
    assert classify("good morning", ["billing", "refund"]) == "billing"


def test_plain_answers() -> None:
    assert answer(LABELS, CALL) == "order_status"
    assert answer("Summarize the call in one line.", CALL) == summarize(CALL)
    assert answer("Be helpful.", "Hello there. How are you?") == "You said: Hello there. How are you?"
    # "classif" without a label list is not a classification
    assert answer("Classify this call.", "Hello.") == "You said: Hello."


def test_json_object_answers() -> None:
    assert json.loads(answer(LABELS + " Reply in JSON.", CALL, json_object=True)) == {"label": "order_status"}
    both = json.loads(answer("Summarize and classify. labels: billing, order_status", CALL, json_object=True))
    assert both == {"label": "order_status", "summary": summarize(CALL)}
    assert json.loads(answer("Answer in json.", "Hi.", json_object=True)) == {"text": "You said: Hi."}


def test_json_schema_answers_fill_every_property_and_validate() -> None:
    schema = {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "intent": {"type": "string", "enum": ["billing", "order_status", "other"]},
            "category": {"type": "string"},
            "urgent": {"type": "boolean"},
            "score": {"type": "number"},
            "count": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "caller": {"type": "object", "properties": {"name": {"type": ["string", "null"]}}, "required": ["name"]},
            "anything": {},
        },
        "required": ["summary", "intent", "category", "urgent", "score", "count", "tags", "caller", "anything"],
        "additionalProperties": False,
    }
    reply = json.loads(answer("Summarize and classify. labels: billing, order_status", CALL, schema=schema))
    jsonschema.validate(reply, schema)
    assert reply == {
        "summary": summarize(CALL),
        "intent": "order_status",
        "category": "order_status",
        "urgent": False,
        "score": 0,
        "count": 0,
        "tags": [],
        "caller": {"name": "order_status"},
        "anything": None,
    }


def test_an_enum_alone_drives_classification() -> None:
    schema = {"type": "object", "properties": {"topic": {"enum": ["weather", "opening_hours"]}}}
    assert json.loads(answer("Reply.", "When are your opening hours?", schema=schema)) == {"topic": "opening_hours"}


def test_tokens_are_words() -> None:
    assert count_tokens("one two  three\nfour") == 4
