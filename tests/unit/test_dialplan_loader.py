"""Loading one dialplan: values, defaults, and every problem with its exact ``file:line: path: message``."""

from __future__ import annotations

import textwrap

import pytest

from bridge.dialplan.loader import load_dialplan_text
from bridge.dialplan.model import (
    DEFAULT_INSTRUCTIONS,
    BuiltinTool,
    Dialplan,
    HttpTool,
    Limits,
    Match,
    PythonTool,
    StaticTool,
    ToolSpec,
)
from bridge.errors import DialplanError

BRIEF_EXAMPLE = """\
name: acme-support
match:
  to: ["+15551230000", "+1555123*"]
  from: ["+44*"]
model: gpt-realtime
voice: marin
audio: passthrough
instructions: |
  You are the support line of Acme...
greeting: "Thanks for calling Acme. How can I help?"
turn_detection: {type: server_vad, threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500}
transcription: {model: gpt-4o-mini-transcribe}
barge_in: true
limits: {max_call_s: 1800, idle_s: 30}
record: true
dtmf: {"0": transfer_to_human}
tools:
  - name: opening_hours
    description: Tell the caller when the shop is open
    parameters: {type: object, properties: {}, additionalProperties: false}
    static: "Monday to Friday, 9 to 5"
  - name: lookup_order
    description: Look up an order
    parameters: {type: object, properties: {order_id: {type: string}}, required: [order_id]}
    http:
      url: "https://orders.example/lookup"
      method: POST
      timeout_s: 5
      headers: {Authorization: "Bearer ${ORDERS_TOKEN}"}
  - name: check_stock
    python: "bridge.tools.examples:free_slots"
  - name: transfer_to_human
    builtin: transfer
    to: "+15557654321"
    say: "Let me put you through."
  - name: end_call
    builtin: hangup
"""


def load(text: str, env: dict[str, str] | None = None) -> Dialplan:
    return load_dialplan_text(textwrap.dedent(text), "t.yaml", {} if env is None else env)


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(DialplanError) as info:
        load(text, env)
    return info.value.problems


def tool_problems(tool: str) -> list[str]:
    """Problems of a dialplan whose only tool is ``tool`` (flow mapping), on line 3."""
    return problems(f"name: t\ntools:\n  - {tool}\n")


# -- loading ----------------------------------------------------------------------------------------


def test_minimal_dialplan_gets_every_default() -> None:
    plan = load("name: t\n")
    assert plan == Dialplan(name="t", source="t.yaml")
    assert plan.is_default
    assert plan.model == "gpt-realtime"
    assert plan.voice == "marin"
    assert plan.audio == "passthrough"
    assert plan.instructions == DEFAULT_INSTRUCTIONS
    assert plan.greeting is None
    assert plan.turn_detection == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
    }
    assert plan.transcription is None
    assert plan.barge_in is True
    assert plan.record is True
    assert plan.limits == Limits(max_call_s=3600.0, idle_s=60.0)
    assert plan.tools == ()
    assert plan.dtmf == {}


def test_brief_example_loads_field_by_field() -> None:
    plan = load_dialplan_text(BRIEF_EXAMPLE, "acme.yaml", {"ORDERS_TOKEN": "tok-1"})
    assert plan.name == "acme-support"
    assert plan.source == "acme.yaml"
    assert plan.match == Match(to=("+15551230000", "+1555123*"), from_=("+44*",))
    assert plan.instructions == "You are the support line of Acme...\n"
    assert plan.greeting == "Thanks for calling Acme. How can I help?"
    assert plan.transcription == {"model": "gpt-4o-mini-transcribe"}
    assert plan.limits == Limits(max_call_s=1800.0, idle_s=30.0)
    assert plan.dtmf == {"0": "transfer_to_human"}
    assert plan.tools == (
        ToolSpec(
            "opening_hours",
            StaticTool("Monday to Friday, 9 to 5"),
            "Tell the caller when the shop is open",
            {"type": "object", "properties": {}, "additionalProperties": False},
        ),
        ToolSpec(
            "lookup_order",
            HttpTool("https://orders.example/lookup", "POST", 5.0, {"Authorization": "Bearer tok-1"}),
            "Look up an order",
            {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
            timeout_s=5.0,
        ),
        ToolSpec(
            "check_stock",
            PythonTool("bridge.tools.examples:free_slots"),
            "List the free appointment times on a day (a weekday name or a date like 2025-03-14).",
            {"type": "object", "properties": {}},
        ),
        ToolSpec(
            "transfer_to_human",
            BuiltinTool("transfer", to="+15557654321", say="Let me put you through."),
            "Transfer the caller to a person who can help further (the caller is told for you).",
            {"type": "object", "properties": {}},
        ),
        ToolSpec(
            "end_call",
            BuiltinTool("hangup"),
            "End the call. Say goodbye before you use it.",
            {"type": "object", "properties": {}},
        ),
    )


def test_function_tools_render_every_tool_for_the_model() -> None:
    plan = load_dialplan_text(BRIEF_EXAMPLE, "acme.yaml", {"ORDERS_TOKEN": "tok-1"})
    rendered = plan.function_tools()
    assert [tool["name"] for tool in rendered] == [
        "opening_hours",
        "lookup_order",
        "check_stock",
        "transfer_to_human",
        "end_call",
    ]
    assert rendered[1] == {
        "type": "function",
        "name": "lookup_order",
        "description": "Look up an order",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    }
    # A copy: changing what was rendered does not change the dialplan.
    rendered[1]["parameters"]["properties"].clear()
    assert plan.function_tools()[1]["parameters"]["properties"] == {"order_id": {"type": "string"}}


def test_unquoted_numbers_keep_their_text() -> None:
    plan = load(
        """\
        name: t
        match: {to: [+15551230000, "+1555*"], from: [+442079460000]}
        dtmf: {0: press}
        tools:
          - {name: fwd, builtin: transfer, to: +15557654321}
          - {name: press, builtin: send_dtmf, digits: 0123}
        """
    )
    assert plan.match == Match(to=("+15551230000", "+1555*"), from_=("+442079460000",))
    assert plan.dtmf == {"0": "press"}
    assert plan.tools[0].kind == BuiltinTool("transfer", to="+15557654321")
    assert plan.tools[1].kind == BuiltinTool("send_dtmf", digits="0123")


def test_builtins_get_their_own_schemas() -> None:
    plan = load(
        """\
        name: t
        tools:
          - {name: press, builtin: send_dtmf}
          - {name: press_zero, builtin: send_dtmf, digits: "0"}
          - {name: hold, builtin: wait}
          - {name: hold_five, builtin: wait, seconds: 5}
          - {name: bye, builtin: hangup, say: Goodbye!, description: Hang up., timeout_s: 3}
        """
    )
    press, press_zero, hold, hold_five, bye = plan.tools
    assert press.parameters == {
        "type": "object",
        "properties": {"digits": {"type": "string", "description": "Keys to press: 0-9, *, # and A-D."}},
        "required": ["digits"],
    }
    assert press.description == "Press keys on the phone line (DTMF tones), for example to get through a phone menu."
    assert press_zero.parameters == {"type": "object", "properties": {}}
    assert hold.parameters == {
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "description": "How long to wait, in seconds."}},
        "required": ["seconds"],
    }
    assert hold.description == "Stay silent for a while, for example while the caller looks something up."
    assert hold_five.kind == BuiltinTool("wait", seconds=5.0)
    assert hold_five.parameters == {"type": "object", "properties": {}}
    assert bye == ToolSpec(
        "bye", BuiltinTool("hangup", say="Goodbye!"), "Hang up.", {"type": "object", "properties": {}}, 3.0
    )


def test_transfer_accepts_sip_uris() -> None:
    plan = load("name: t\ntools:\n  - {name: fwd, builtin: transfer, to: 'sip:desk@pbx.example.com;transport=tls'}\n")
    assert plan.tools[0].kind == BuiltinTool("transfer", to="sip:desk@pbx.example.com;transport=tls")


@pytest.mark.parametrize(
    ("tool", "tool_timeout", "http_timeout"),
    [
        ("{name: h, http: {url: 'https://x.example'}}", 10.0, 10.0),
        ("{name: h, http: {url: 'https://x.example', timeout_s: 4}}", 4.0, 4.0),
        ("{name: h, timeout_s: 7, http: {url: 'https://x.example'}}", 7.0, 7.0),
        ("{name: h, timeout_s: 7, http: {url: 'https://x.example', timeout_s: 2.5}}", 7.0, 2.5),
    ],
)
def test_http_and_tool_timeouts_default_to_each_other(tool: str, tool_timeout: float, http_timeout: float) -> None:
    spec = load(f"name: t\ntools:\n  - {tool}\n").tools[0]
    assert spec.timeout_s == tool_timeout
    assert spec.kind == HttpTool("https://x.example", "POST", http_timeout, {})


def test_static_results_keep_their_json_shape() -> None:
    plan = load(
        """\
        name: t
        tools:
          - name: facts
            static: {open: true, days: [Mon, Tue], since: 2024-01-01, staff: 12, rating: 4.5, note: null}
        """
    )
    assert plan.tools[0].kind == StaticTool(
        {"open": True, "days": ["Mon", "Tue"], "since": "2024-01-01", "staff": 12, "rating": 4.5, "note": None}
    )


def test_turn_detection_variants() -> None:
    assert load("name: t\nturn_detection: null\n").turn_detection is None
    assert load("name: t\nturn_detection: {type: server_vad, silence_duration_ms: 800}\n").turn_detection == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 800,
    }
    text = "name: t\nturn_detection: {type: server_vad, idle_timeout_ms: null}\n"
    assert load(text).turn_detection == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "idle_timeout_ms": None,
    }
    text = "name: t\nturn_detection: {type: server_vad, idle_timeout_ms: 8000, create_response: false}\n"
    assert load(text).turn_detection == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "idle_timeout_ms": 8000,
        "create_response": False,
    }
    text = "name: t\nturn_detection: {type: semantic_vad, eagerness: high, interrupt_response: true}\n"
    assert load(text).turn_detection == {"type": "semantic_vad", "eagerness": "high", "interrupt_response": True}


def test_optional_values_accept_null() -> None:
    plan = load("name: t\ngreeting: null\ntranscription: null\n")
    assert plan.greeting is None
    assert plan.transcription is None


def test_transcription_options() -> None:
    plan = load("name: t\ntranscription: {model: gpt-4o-transcribe, language: de, prompt: Ortsnamen}\n")
    assert plan.transcription == {"model": "gpt-4o-transcribe", "language": "de", "prompt": "Ortsnamen"}


def test_anchors_and_aliases_work() -> None:
    plan = load(
        """\
        name: t
        tools:
          - name: a
            parameters: &schema {type: object, properties: {q: {type: string}}}
            http: {url: "https://x.example/a"}
          - name: b
            parameters: *schema
            http: {url: "https://x.example/b"}
        """
    )
    assert (
        plan.tools[0].parameters
        == plan.tools[1].parameters
        == {"type": "object", "properties": {"q": {"type": "string"}}}
    )


# -- environment variables --------------------------------------------------------------------------


def test_env_variables_expand_in_every_string() -> None:
    plan = load(
        """\
        name: ${NAME}
        voice: ${VOICE:-marin}
        audio: ${AUDIO}
        instructions: "Hi ${WHO}, ${WHO} again; $$5 stays; cost $${PRICE}; ${EMPTY:-fallback}; [${EMPTY}]"
        match: {to: ["${NUMBER}"]}
        tools:
          - {name: h, http: {url: "${BASE}/x", headers: {X-Key: "${KEY}"}}}
          - {name: s, static: {nested: ["${WHO}"]}}
        """,
        env={
            "NAME": "env-plan",
            "AUDIO": "pcm16",
            "WHO": "Ann",
            "EMPTY": "",
            "NUMBER": "+15551230000",
            "BASE": "https://api.example",
            "KEY": "k1",
        },
    )
    assert plan.name == "env-plan"
    assert plan.voice == "marin"
    assert plan.audio == "pcm16"
    assert plan.instructions == "Hi Ann, Ann again; $$5 stays; cost ${PRICE}; fallback; []"
    assert plan.match == Match(to=("+15551230000",))
    assert plan.tools[0].kind == HttpTool("https://api.example/x", "POST", 10.0, {"X-Key": "k1"})
    assert plan.tools[1].kind == StaticTool({"nested": ["Ann"]})


def test_env_default_is_used_only_when_unset_or_empty() -> None:
    assert load("name: t\nvoice: ${V:-cedar}\n", env={"V": "ash"}).voice == "ash"
    assert load("name: t\nvoice: ${V:-cedar}\n", env={"V": ""}).voice == "cedar"
    assert load("name: t\nvoice: ${V:-cedar}\n", env={}).voice == "cedar"


def test_env_none_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_TEST_DIALPLAN_VOICE", "verse")
    assert load_dialplan_text("name: t\nvoice: ${BRIDGE_TEST_DIALPLAN_VOICE}\n").voice == "verse"


def test_env_keys_are_not_expanded() -> None:
    plan = load("name: t\ntools:\n  - {name: s, static: {'${K}': '${K}'}}\n", env={"K": "v"})
    assert plan.tools[0].kind == StaticTool({"${K}": "v"})


def test_env_problems() -> None:
    text = """\
    name: t
    voice: ${VOICE}
    instructions: "${1BAD} and ${A-B} and ${OPEN"
    audio: ${AUDIO}
    """
    assert problems(text) == [
        "t.yaml:2: voice: environment variable VOICE is not set (use ${VOICE:-default})",
        "t.yaml:3: instructions: bad reference '${1BAD}': use ${NAME} or ${NAME:-default}",
        "t.yaml:3: instructions: bad reference '${A-B}': use ${NAME} or ${NAME:-default}",
        "t.yaml:3: instructions: unterminated '${' (write '$${' for a literal '${')",
        "t.yaml:4: audio: environment variable AUDIO is not set (use ${AUDIO:-default})",
    ]


def test_missing_env_variable_in_a_header_names_the_path() -> None:
    assert problems(BRIEF_EXAMPLE) == [
        "t.yaml:29: tools[1].http.headers.Authorization: environment variable ORDERS_TOKEN is not set"
        " (use ${ORDERS_TOKEN:-default})"
    ]


# -- problems: the file -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["t.yaml:1: empty file: a dialplan needs at least a name"]),
        ("# just a comment\n", ["t.yaml:1: empty file: a dialplan needs at least a name"]),
        ("- a\n- b\n", ["t.yaml:1: a dialplan file must be a mapping (name: ...), got a list"]),
        ("hello", ["t.yaml:1: a dialplan file must be a mapping (name: ...), got 'hello'"]),
        ("# header\n\nvoice: cedar\n", ["t.yaml:3: name: required"]),
        (
            "name: t\nvoice: [cedar\nmodel: x\n",
            ["t.yaml:3: YAML syntax error: while parsing a flow sequence (line 2): expected ',' or ']', but got ':'"],
        ),
        (
            "name: t\n\tvoice: cedar\n",
            [
                "t.yaml:2: YAML syntax error: while scanning for the next token:"
                " found character '\\t' that cannot start any token"
            ],
        ),
        ("name: t\nvoice: a: b\n", ["t.yaml:2: YAML syntax error: mapping values are not allowed here"]),
        (
            'name: t\nvoice: "cedar\n',
            ["t.yaml:3: YAML syntax error: while scanning a quoted scalar (line 2): found unexpected end of stream"],
        ),
        (
            "name: t\n---\nname: u\n",
            [
                "t.yaml:2: YAML syntax error: expected a single document in the stream (line 1):"
                " but found another document"
            ],
        ),
        (
            "name: t\nvoice: x\x00\n",
            ["t.yaml:2: YAML syntax error: unacceptable character #x0000: special characters are not allowed"],
        ),
        ("name: *nowhere\n", ["t.yaml:1: YAML syntax error: found undefined alias 'nowhere'"]),
        ("[" * 2000, ["t.yaml:1: YAML syntax error: nested too deeply"]),
    ],
)
def test_file_level_problems(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: t\nvoise: cedar\n", ["t.yaml:2: voise: unknown key (did you mean 'voice'?)"]),
        (
            "name: t\nzzz: 1\n",
            [
                "t.yaml:2: zzz: unknown key; expected one of name, match, model, voice, audio, instructions, greeting,"
                " turn_detection, transcription, barge_in, limits, record, dtmf, tools"
            ],
        ),
        ("name: t\nvoice: a\nvoice: b\n", ["t.yaml:3: voice: duplicate key (first on line 2)"]),
        ("name: t\n<<: {voice: x}\n", ["t.yaml:2: <<: merge keys (<<) are not supported; repeat the keys instead"]),
        ("name: t\n? [a]\n: 1\n", ["t.yaml:2: keys must be plain text, got a list"]),
        (
            "name: bad name\n",
            [
                "t.yaml:1: name: must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit,"
                " got 'bad name'"
            ],
        ),
        ("name: 42\n", ['t.yaml:1: name: must be a string, got 42 (quote it: "42")']),
        ("name: t\nvoice: 42\n", ['t.yaml:2: voice: must be a string, got 42 (quote it: "42")']),
        ("name: t\nmodel: ' '\n", ["t.yaml:2: model: must not be empty"]),
        ("name: t\ninstructions: null\n", ["t.yaml:2: instructions: must be a string, got null"]),
        ("name: t\ngreeting: [hi]\n", ["t.yaml:2: greeting: must be a string, got a list"]),
        ("name: !!binary aGk=\n", ["t.yaml:1: name: must be a string, got a value tagged 'tag:yaml.org,2002:binary'"]),
        ("name: t\nvoice: !secret x\n", ["t.yaml:2: voice: must be a string, got a value tagged '!secret'"]),
        ("name: t\nbarge_in: 'yes please'\n", ["t.yaml:2: barge_in: must be true or false, got 'yes please'"]),
        ("name: t\nrecord: 1\n", ["t.yaml:2: record: must be true or false, got 1"]),
        (
            "name: t\naudio: pcm\n",
            ["t.yaml:2: audio: unknown audio mode 'pcm' (did you mean 'pcm16'?); expected one of passthrough, pcm16"],
        ),
        ("name: t\naudio: 16\n", ["t.yaml:2: audio: must be one of passthrough, pcm16, got 16"]),
        ("name: t\nlimits: 5\n", ["t.yaml:2: limits: must be a mapping, got 5"]),
        (
            "name: t\nlimits: {max_call_s: 0, idle_s: -1.5}\n",
            [
                "t.yaml:2: limits.max_call_s: must be a positive number, got 0",
                "t.yaml:2: limits.idle_s: must be a positive number, got -1.5",
            ],
        ),
        (
            "name: t\nlimits: {max_call_s: '30', idle: 5}\n",
            [
                "t.yaml:2: limits.idle: unknown key (did you mean 'idle_s'?)",
                "t.yaml:2: limits.max_call_s: must be a number, got '30'",
            ],
        ),
        ("name: t\nlimits: {idle_s: .inf}\n", ["t.yaml:2: limits.idle_s: must be a number, got .inf"]),
        ("name: t\ntools: {}\n", ["t.yaml:2: tools: must be a list, got a mapping"]),
    ],
)
def test_dialplan_key_problems(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize(
    ("turn_detection", "expected"),
    [
        ("{threshold: 0.5}", ["turn_detection.type: required: server_vad or semantic_vad (or turn_detection: null)"]),
        (
            "{type: server}",
            [
                "turn_detection.type: unknown turn detection type 'server' (did you mean 'server_vad'?);"
                " expected one of server_vad, semantic_vad"
            ],
        ),
        ("{type: server_vad, eagerness: low}", ["turn_detection.eagerness: applies only to semantic_vad"]),
        ("{type: semantic_vad, threshold: 0.5}", ["turn_detection.threshold: applies only to server_vad"]),
        ("{type: server_vad, treshold: 0.5}", ["turn_detection.treshold: unknown key (did you mean 'threshold'?)"]),
        ("{type: server_vad, threshold: 1.5}", ["turn_detection.threshold: must be between 0 and 1, got 1.5"]),
        (
            "{type: server_vad, silence_duration_ms: 0.5, prefix_padding_ms: -1}",
            [
                "turn_detection.silence_duration_ms: must be a whole number >= 0, got 0.5",
                "turn_detection.prefix_padding_ms: must be a whole number >= 0, got -1",
            ],
        ),
        (
            "{type: server_vad, idle_timeout_ms: 0}",
            ["turn_detection.idle_timeout_ms: must be a whole number >= 1, got 0"],
        ),
        ("{type: semantic_vad, create_response: 1}", ["turn_detection.create_response: must be true or false, got 1"]),
        (
            "{type: semantic_vad, eagerness: fast}",
            ["turn_detection.eagerness: unknown eagerness 'fast'; expected one of low, medium, high, auto"],
        ),
        ("server_vad", ["turn_detection: must be a mapping, got 'server_vad'"]),
    ],
)
def test_turn_detection_problems(turn_detection: str, expected: list[str]) -> None:
    assert problems(f"name: t\nturn_detection: {turn_detection}\n") == [f"t.yaml:2: {e}" for e in expected]


@pytest.mark.parametrize(
    ("transcription", "expected"),
    [
        ("{language: en}", ["transcription.model: required (for example gpt-4o-mini-transcribe)"]),
        ("{model: whisper-1, lang: en}", ["transcription.lang: unknown key (did you mean 'language'?)"]),
        ("{model: whisper-1, prompt: 3}", ['transcription.prompt: must be a string, got 3 (quote it: "3")']),
    ],
)
def test_transcription_problems(transcription: str, expected: list[str]) -> None:
    assert problems(f"name: t\ntranscription: {transcription}\n") == [f"t.yaml:2: {e}" for e in expected]


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ("null", ["t.yaml:2: match: must be a mapping, got null (leave match out for the default dialplan)"]),
        ("{from: ['+44*']}", ["t.yaml:2: match.to: required: the called numbers this dialplan answers"]),
        ("{to: []}", ["t.yaml:2: match.to: must list at least one number pattern"]),
        ("{to: '+15551230000'}", ["t.yaml:2: match.to: must be a list, got '+15551230000'"]),
        ("{to: ['+1555*'], from: []}", ["t.yaml:2: match.from: must list at least one number pattern"]),
        ("{to: ['+1555*'], form: ['+1*']}", ["t.yaml:2: match.form: unknown key (did you mean 'from'?)"]),
        (
            "{to: ['+1555*', '5551230000']}",
            [
                "t.yaml:2: match.to[1]: '5551230000' is not an E.164 number (+ then 2-15 digits)"
                " or a prefix ending in '*' (like '+1555*')"
            ],
        ),
        (
            "{to: ['+1555*'], from: ['+44*20']}",
            [
                "t.yaml:2: match.from[0]: '+44*20' is not an E.164 number (+ then 2-15 digits)"
                " or a prefix ending in '*' (like '+1555*')"
            ],
        ),
        ("{to: [true]}", ['t.yaml:2: match.to[0]: must be a string, got true (quote it: "true")']),
    ],
)
def test_match_problems(match: str, expected: list[str]) -> None:
    assert problems(f"name: t\nmatch: {match}\n") == expected


def test_match_problems_point_at_the_list_item_line() -> None:
    text = """\
    name: t
    match:
      to:
        - "+15551230000"
        - "+1 555 123"
    """
    assert problems(text) == [
        "t.yaml:5: match.to[1]: '+1 555 123' is not an E.164 number (+ then 2-15 digits)"
        " or a prefix ending in '*' (like '+1555*')"
    ]


# -- problems: tools --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ("{description: x, static: y}", ["tools[0].name: required"]),
        ("{name: 'look up', static: y}", ["tools[0].name: must be 1-64 letters, digits, '_' or '-', got 'look up'"]),
        ("{name: a}", ["tools[0]: needs exactly one of static, http, python, builtin"]),
        (
            "{name: a, static: y, builtin: hangup}",
            ["tools[0]: has both 'static' and 'builtin'; a tool needs exactly one of static, http, python, builtin"],
        ),
        ("{name: a, static: y, descripton: z}", ["tools[0].descripton: unknown key (did you mean 'description'?)"]),
        ("{name: a, static: null}", ["tools[0].static: must be a value, got null"]),
        (
            "{name: a, static: {data: !!binary aGk=}}",
            ["tools[0].static.data: unsupported YAML value: a value tagged 'tag:yaml.org,2002:binary'"],
        ),
        ("hangup", ["tools[0]: must be a mapping, got 'hangup'"]),
        ("{name: a, static: y, timeout_s: 0}", ["tools[0].timeout_s: must be a positive number, got 0"]),
        ("{name: a, static: y, description: [x]}", ["tools[0].description: must be a string, got a list"]),
        ("{name: a, static: y, to: '+15551230000'}", ["tools[0].to: applies only to builtin transfer"]),
        # builtins
        (
            "{name: a, builtin: hangp}",
            [
                "tools[0].builtin: unknown builtin 'hangp' (did you mean 'hangup'?);"
                " expected one of hangup, transfer, send_dtmf, wait"
            ],
        ),
        ("{name: a, builtin: transfer}", ["tools[0].to: required for builtin transfer: an E.164 number or a sip: URI"]),
        ("{name: a, builtin: transfer, to: [x]}", ["tools[0].to: must be a string, got a list"]),
        (
            "{name: a, builtin: transfer, to: '555-1234'}",
            ["tools[0].to: must be an E.164 number (like +15557654321) or a sip: URI, got '555-1234'"],
        ),
        ("{name: a, builtin: send_dtmf, say: hi}", ["tools[0].say: applies only to builtin hangup or transfer"]),
        ("{name: a, builtin: hangup, digits: '1'}", ["tools[0].digits: applies only to builtin send_dtmf"]),
        ("{name: a, builtin: hangup, seconds: 1}", ["tools[0].seconds: applies only to builtin wait"]),
        (
            "{name: a, builtin: send_dtmf, digits: '12x'}",
            ["tools[0].digits: must be DTMF keys (0-9, *, #, A-D), got '12x'"],
        ),
        ("{name: a, builtin: wait, seconds: -2}", ["tools[0].seconds: must be a positive number, got -2"]),
        ("{name: a, builtin: hangup, say: ''}", ["tools[0].say: must not be empty"]),
        (
            "{name: a, builtin: hangup, parameters: {type: object}}",
            ["tools[0].parameters: not allowed on builtin tools: they define their own"],
        ),
        # parameters
        (
            "{name: a, static: y, parameters: {type: object, properties: {q: {type: strin}}}}",
            [
                "tools[0].parameters.properties.q.type: not a valid JSON Schema:"
                " 'strin' is not valid under any of the given schemas"
            ],
        ),
        (
            "{name: a, static: y, parameters: {type: object, required: q}}",
            ["tools[0].parameters.required: not a valid JSON Schema: 'q' is not of type 'array'"],
        ),
        (
            "{name: a, static: y, parameters: {type: object, required: [id, 7]}}",
            ["tools[0].parameters.required[1]: not a valid JSON Schema: 7 is not of type 'string'"],
        ),
        (
            "{name: a, static: y, parameters: {type: string}}",
            ["tools[0].parameters.type: must be 'object' (the model passes arguments as a JSON object), got 'string'"],
        ),
        (
            "{name: a, static: y, parameters: {properties: {}}}",
            ["tools[0].parameters.type: required: 'object' (the model passes arguments as a JSON object)"],
        ),
        ("{name: a, static: y, parameters: [1]}", ["tools[0].parameters: must be a JSON Schema mapping, got a list"]),
        # http
        ("{name: a, http: {method: GET}}", ["tools[0].http.url: required"]),
        (
            "{name: a, http: {url: 'https://x.example', headers: [a]}}",
            ["tools[0].http.headers: must be a mapping, got a list"],
        ),
        ("{name: a, http: 'https://x.example'}", ["tools[0].http: must be a mapping, got 'https://x.example'"]),
        (
            "{name: a, http: {url: 'ftp://x.example'}}",
            ["tools[0].http.url: must be an http:// or https:// URL, got 'ftp://x.example'"],
        ),
        (
            "{name: a, http: {url: 'https://'}}",
            ["tools[0].http.url: must be an http:// or https:// URL, got 'https://'"],
        ),
        (
            "{name: a, http: {url: 'https://x.example', method: post}}",
            [
                "tools[0].http.method: unknown HTTP method 'post' (did you mean 'POST'?);"
                " expected one of GET, POST, PUT, PATCH, DELETE"
            ],
        ),
        (
            "{name: a, timeout_s: 5, http: {url: 'https://x.example', timeout_s: 8}}",
            ["tools[0].http.timeout_s: 8 s is longer than the tool's timeout_s (5 s)"],
        ),
        (
            "{name: a, http: {url: 'https://x.example', headers: {'Bad Header': x, X-N: 3}}}",
            [
                "tools[0].http.headers.Bad Header: not a valid HTTP header name",
                'tools[0].http.headers.X-N: must be a string, got 3 (quote it: "3")',
            ],
        ),
        (
            "{name: a, http: {url: 'https://x.example', verb: GET}}",
            ["tools[0].http.verb: unknown key; expected one of url, method, timeout_s, headers"],
        ),
        # python
        ("{name: a, python: 5}", ['tools[0].python: must be a string, got 5 (quote it: "5")']),
        (
            "{name: a, python: 'not a target'}",
            ["tools[0].python: must be 'module:function' or 'entry:NAME', got 'not a target'"],
        ),
        (
            "{name: a, python: no_such_module_xyz:f}",
            ["tools[0].python: cannot import 'no_such_module_xyz': No module named 'no_such_module_xyz'"],
        ),
        (
            "{name: a, python: 'bridge.tools.examples:nope'}",
            ["tools[0].python: module 'bridge.tools.examples' has no attribute 'nope'"],
        ),
        (
            "{name: a, python: 'bridge.tools.examples:__doc__'}",
            ["tools[0].python: 'bridge.tools.examples:__doc__' is not callable"],
        ),
        (
            "{name: a, python: 'entry:no-such-tool'}",
            ["tools[0].python: no entry point named 'no-such-tool' in group 'bridge.tools'"],
        ),
    ],
)
def test_tool_problems(tool: str, expected: list[str]) -> None:
    assert tool_problems(tool) == [f"t.yaml:3: {e}" for e in expected]


def test_duplicate_tool_names() -> None:
    text = """\
    name: t
    tools:
      - {name: a, static: x}
      - {name: b, static: x}
      - {name: a, builtin: hangup}
    """
    assert problems(text) == ["t.yaml:5: tools[2].name: duplicate tool name 'a' (first on line 3)"]


def test_schema_problems_point_at_the_offending_line() -> None:
    text = """\
    name: t
    tools:
      - name: lookup
        http: {url: "https://x.example"}
        parameters:
          type: object
          properties:
            order_id:
              type: strng
    """
    assert problems(text) == [
        "t.yaml:9: tools[0].parameters.properties.order_id.type: not a valid JSON Schema:"
        " 'strng' is not valid under any of the given schemas"
    ]


def test_a_recursive_alias_is_a_problem_not_a_hang() -> None:
    assert problems("name: t\ntools:\n  - {name: x, static: &loop [*loop]}\n") == [
        "t.yaml:3: tools[0].static[0]: recursive alias: this value contains itself"
    ]


def test_values_nested_too_deep_are_a_problem() -> None:
    deep = "[" * 70 + "]" * 70
    assert problems(f"name: t\ntools:\n  - {{name: x, static: {deep}}}\n") == [
        "t.yaml:3: tools[0].static" + "[0]" * 64 + ": nested more than 64 levels deep"
    ]


# -- problems: dtmf ---------------------------------------------------------------------------------


def test_dtmf_problems() -> None:
    text = """\
    name: t
    dtmf:
      "0": transfer_to_humn
      "12": end_call
      "*": lookup
      "#": nothing
      "9": 7
    tools:
      - {name: transfer_to_human, builtin: transfer, to: "+15557654321"}
      - {name: end_call, builtin: hangup}
      - name: lookup
        http: {url: "https://x.example"}
        parameters: {type: object, properties: {id: {type: string}}, required: [id]}
    """
    assert problems(text) == [
        "t.yaml:3: dtmf.0: unknown tool 'transfer_to_humn' (did you mean 'transfer_to_human'?);"
        " tools here: transfer_to_human, end_call, lookup",
        "t.yaml:4: dtmf.12: '12' is not a DTMF key; use 0-9, *, #, A-D",
        "t.yaml:5: dtmf.*: tool 'lookup' needs arguments (id); a key press gives none",
        "t.yaml:6: dtmf.#: unknown tool 'nothing'; tools here: transfer_to_human, end_call, lookup",
        't.yaml:7: dtmf.9: must be a string, got 7 (quote it: "7")',
    ]


def test_dtmf_without_tools() -> None:
    assert problems("name: t\ndtmf: {'1': help}\n") == [
        "t.yaml:2: dtmf.1: unknown tool 'help'; this dialplan has no tools"
    ]
    assert problems("name: t\ndtmf: [1]\n") == ["t.yaml:2: dtmf: must be a mapping, got a list"]


def test_every_problem_in_a_file_is_reported_in_line_order() -> None:
    text = """\
    name: t
    tools:
      - {name: a, builtin: nope}
    voice: 1
    audio: opus
    """
    assert problems(text) == [
        "t.yaml:3: tools[0].builtin: unknown builtin 'nope'; expected one of hangup, transfer, send_dtmf, wait",
        't.yaml:4: voice: must be a string, got 1 (quote it: "1")',
        "t.yaml:5: audio: unknown audio mode 'opus'; expected one of passthrough, pcm16",
    ]
