"""Client event validation for both dialects, with OpenAI's error codes and messages.

The GA schemas follow the official SDK's request types (``openai.types.realtime.*_param``), the
beta ones ``openai.types.beta.realtime.*_param``. The list of event types a GA WebSocket accepts is
the one the real server printed when sent an unknown type (PROTOCOLS G.3): it includes
``session.close`` and ``session.input_audio_buffer.append`` and leaves out
``output_audio_buffer.clear``, which only WebRTC/SIP sessions take.
"""

from __future__ import annotations

from typing import Any, Literal

from bridge.engine.schema import (
    Anything,
    Bool,
    ClientError,
    Enum,
    Int,
    ListOf,
    MapOf,
    Nullable,
    Num,
    Obj,
    OneOf,
    Spec,
    Str,
    Tagged,
    quote_values,
)

__all__ = ["GA_EVENT_TYPES", "BETA_EVENT_TYPES", "Dialect", "validate_event"]

Dialect = Literal["ga", "beta"]

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
_STATUS = Enum("completed", "incomplete", "in_progress")
_MAX_TOKENS = OneOf(Int(1, 4096), Enum("inf"))
_MODALITIES = ListOf(Enum("text", "audio"))
_METADATA = Nullable(MapOf(Str()))
_TRACING = Nullable(OneOf(Enum("auto"), Obj({"workflow_name": Str(), "group_id": Str(), "metadata": Anything()})))
_FUNCTION_TOOL = Obj({"type": Enum("function"), "name": Str(), "description": Str(), "parameters": Anything()})

# ---------------------------------------------------------------- GA
_FORMAT = Tagged(
    "type",
    {
        "audio/pcm": Obj({"type": Str(), "rate": Int(24000, 24000)}, required=("rate",)),
        "audio/pcmu": Obj({"type": Str()}),
        "audio/pcma": Obj({"type": Str()}),
    },
)
_VAD_COMMON: dict[str, Spec] = {"type": Str(), "create_response": Bool(), "interrupt_response": Bool()}
_TURN_DETECTION = Nullable(
    Tagged(
        "type",
        {
            "server_vad": Obj(
                {
                    **_VAD_COMMON,
                    "threshold": Num(0, 1),
                    "prefix_padding_ms": Int(0),
                    "silence_duration_ms": Int(0),
                    "idle_timeout_ms": Nullable(Int(0)),
                }
            ),
            "semantic_vad": Obj({**_VAD_COMMON, "eagerness": Enum("low", "medium", "high", "auto")}),
        },
    )
)
_TRANSCRIPTION = Nullable(
    Obj(
        {
            "model": Str(),
            "language": Str(),
            "languages": ListOf(Str()),
            "prompt": Str(),
            "keywords": ListOf(Str()),
            "delay": Enum("minimal", "low", "medium", "high", "xhigh"),
        }
    )
)
_NOISE_REDUCTION = Nullable(Obj({"type": Enum("near_field", "far_field"), "strength": Num(0)}))
_VOICE = OneOf(Enum(*VOICES), Obj({"id": Str()}, required=("id",)))
_AUDIO = Obj(
    {
        "input": Obj(
            {
                "format": _FORMAT,
                "noise_reduction": _NOISE_REDUCTION,
                "transcription": _TRANSCRIPTION,
                "turn_detection": _TURN_DETECTION,
            }
        ),
        "output": Obj({"format": _FORMAT, "voice": _VOICE, "speed": Num(0.25, 1.5)}),
    }
)
_MCP_TOOL = Obj(
    {
        key: Anything()
        for key in (
            "type",
            "server_label",
            "allowed_callers",
            "allowed_tools",
            "authorization",
            "connector_id",
            "defer_loading",
            "headers",
            "require_approval",
            "server_description",
            "server_url",
            "tunnel_id",
        )
    },
    required=("server_label",),
)
_TOOLS = ListOf(Tagged("type", {"function": _FUNCTION_TOOL, "mcp": _MCP_TOOL}, default="function"))
_TOOL_CHOICE = OneOf(
    Enum("none", "auto", "required"),
    Tagged(
        "type",
        {
            "function": Obj({"type": Str(), "name": Str()}, required=("name",)),
            "mcp": Obj({"type": Str(), "server_label": Str(), "name": Nullable(Str())}, required=("server_label",)),
        },
    ),
)
_TRUNCATION = OneOf(
    Enum("auto", "disabled"),
    Tagged(
        "type",
        {
            "retention_ratio": Obj(
                {"type": Str(), "retention_ratio": Num(0, 1), "token_limits": Obj({"post_instructions": Int(0)})},
                required=("retention_ratio",),
            )
        },
    ),
)
_PROMPT = Nullable(Obj({"id": Str(), "version": Nullable(Str()), "variables": Nullable(Anything())}, required=("id",)))
_REASONING = Obj({"effort": Enum("minimal", "low", "medium", "high", "xhigh")})
_SESSION = Tagged(
    "type",
    {
        "realtime": Obj(
            {
                "type": Str(),
                "model": Str(),
                "output_modalities": _MODALITIES,
                "instructions": Str(),
                "audio": _AUDIO,
                "tools": _TOOLS,
                "tool_choice": _TOOL_CHOICE,
                "max_output_tokens": _MAX_TOKENS,
                "tracing": _TRACING,
                "truncation": _TRUNCATION,
                "include": Nullable(ListOf(Enum("item.input_audio_transcription.logprobs"))),
                "prompt": _PROMPT,
                "reasoning": _REASONING,
                "parallel_tool_calls": Bool(),
            }
        )
    },
)
_ITEM_COMMON: dict[str, Spec] = {"type": Str(), "id": Str(), "object": Enum("realtime.item"), "status": _STATUS}


def _message(content: dict[str, Spec]) -> Obj:
    return Obj({**_ITEM_COMMON, "role": Str(), "content": ListOf(Tagged("type", content))}, required=("content",))


_TEXT = Obj({"type": Str(), "text": Str()}, required=("text",))
_ITEM = Tagged(
    "type",
    {
        "message": Tagged(
            "role",
            {
                "system": _message({"input_text": _TEXT}),
                "user": _message(
                    {
                        "input_text": _TEXT,
                        "input_audio": Obj({"type": Str(), "audio": Str(), "transcript": Str()}),
                        "input_image": Obj(
                            {"type": Str(), "image_url": Str(), "detail": Enum("auto", "low", "high")},
                            required=("image_url",),
                        ),
                    }
                ),
                "assistant": _message(
                    {
                        "output_text": _TEXT,
                        "output_audio": Obj({"type": Str(), "audio": Str(), "transcript": Str()}),
                    }
                ),
            },
        ),
        "function_call": Obj(
            {**_ITEM_COMMON, "call_id": Str(), "name": Str(), "arguments": Str()}, required=("name", "arguments")
        ),
        "function_call_output": Obj(
            {**_ITEM_COMMON, "call_id": Str(), "output": Str()}, required=("call_id", "output")
        ),
    },
)
_RESPONSE = Obj(
    {
        "audio": Obj({"output": Obj({"format": _FORMAT, "voice": _VOICE})}),
        "conversation": Str(),
        "input": ListOf(
            Tagged("type", {**_ITEM.variants, "item_reference": Obj({"type": Str(), "id": Str()}, required=("id",))})
        ),
        "instructions": Str(),
        "max_output_tokens": _MAX_TOKENS,
        "metadata": _METADATA,
        "output_modalities": _MODALITIES,
        "parallel_tool_calls": Bool(),
        "prompt": _PROMPT,
        "reasoning": _REASONING,
        "tool_choice": _TOOL_CHOICE,
        "tools": _TOOLS,
    }
)

_Fields = tuple[dict[str, Spec], tuple[str, ...]]
_NO_FIELDS: dict[str, Spec] = {}
_APPEND: _Fields = ({"audio": Str()}, ("audio",))
_ITEM_ID: _Fields = ({"item_id": Str()}, ("item_id",))
_TRUNCATE: _Fields = (
    {"item_id": Str(), "content_index": Int(0), "audio_end_ms": Int(0)},
    ("item_id", "content_index", "audio_end_ms"),
)

_GA_FIELDS: dict[str, _Fields] = {
    "session.update": ({"session": _SESSION}, ("session",)),
    "session.close": (_NO_FIELDS, ()),
    "input_audio_buffer.append": _APPEND,
    "session.input_audio_buffer.append": _APPEND,
    "input_audio_buffer.commit": (_NO_FIELDS, ()),
    "input_audio_buffer.clear": (_NO_FIELDS, ()),
    "conversation.item.create": ({"item": _ITEM, "previous_item_id": Nullable(Str())}, ("item",)),
    "conversation.item.truncate": _TRUNCATE,
    "conversation.item.delete": _ITEM_ID,
    "conversation.item.retrieve": _ITEM_ID,
    "response.create": ({"response": _RESPONSE}, ()),
    "response.cancel": ({"response_id": Str()}, ()),
}

# ---------------------------------------------------------------- beta
_BETA_FORMAT = Enum("pcm16", "g711_ulaw", "g711_alaw")
_BETA_TOOLS = ListOf(_FUNCTION_TOOL)
_BETA_SESSION = Obj(
    {
        "model": Str(),
        "modalities": _MODALITIES,
        "instructions": Str(),
        "voice": Enum(*VOICES),
        "input_audio_format": _BETA_FORMAT,
        "output_audio_format": _BETA_FORMAT,
        "input_audio_transcription": Nullable(Obj({"model": Str(), "language": Str(), "prompt": Str()})),
        "input_audio_noise_reduction": Nullable(Obj({"type": Enum("near_field", "far_field")})),
        "turn_detection": Nullable(
            Obj(
                {
                    "type": Enum("server_vad", "semantic_vad"),
                    "threshold": Num(0, 1),
                    "prefix_padding_ms": Int(0),
                    "silence_duration_ms": Int(0),
                    "create_response": Bool(),
                    "interrupt_response": Bool(),
                    "eagerness": Enum("low", "medium", "high", "auto"),
                }
            )
        ),
        "tools": _BETA_TOOLS,
        "tool_choice": Str(),
        "temperature": Num(0.6, 1.2),
        "max_response_output_tokens": _MAX_TOKENS,
        "speed": Num(0.25, 1.5),
        "tracing": _TRACING,
        "client_secret": Anything(),
    }
)
_BETA_CONTENT = ListOf(
    Obj(
        {
            "type": Enum("input_text", "input_audio", "item_reference", "text", "audio"),
            "id": Str(),
            "audio": Str(),
            "text": Str(),
            "transcript": Str(),
        },
        required=("type",),
    )
)
_BETA_ITEM_FIELDS: dict[str, Spec] = {
    "type": Str(),
    "id": Str(),
    "object": Enum("realtime.item"),
    "status": _STATUS,
    "role": Enum("user", "assistant", "system"),
    "content": _BETA_CONTENT,
    "call_id": Str(),
    "name": Str(),
    "arguments": Str(),
    "output": Str(),
}
_BETA_ITEM = Tagged(
    "type",
    {
        "message": Obj(_BETA_ITEM_FIELDS, required=("role", "content")),
        "function_call": Obj(_BETA_ITEM_FIELDS, required=("name", "arguments")),
        "function_call_output": Obj(_BETA_ITEM_FIELDS, required=("call_id", "output")),
    },
)
_BETA_RESPONSE = Obj(
    {
        "conversation": Str(),
        "input": ListOf(_BETA_ITEM),
        "instructions": Str(),
        "max_response_output_tokens": _MAX_TOKENS,
        "metadata": _METADATA,
        "modalities": _MODALITIES,
        "output_audio_format": _BETA_FORMAT,
        "temperature": Num(0.6, 1.2),
        "tool_choice": Str(),
        "tools": _BETA_TOOLS,
        "voice": Enum(*VOICES),
    }
)
_BETA_FIELDS: dict[str, _Fields] = {
    "session.update": ({"session": _BETA_SESSION}, ("session",)),
    "input_audio_buffer.append": _APPEND,
    "input_audio_buffer.commit": (_NO_FIELDS, ()),
    "input_audio_buffer.clear": (_NO_FIELDS, ()),
    "conversation.item.create": ({"item": _BETA_ITEM, "previous_item_id": Nullable(Str())}, ("item",)),
    "conversation.item.truncate": _TRUNCATE,
    "conversation.item.delete": _ITEM_ID,
    "conversation.item.retrieve": _ITEM_ID,
    "response.create": ({"response": _BETA_RESPONSE}, ()),
    "response.cancel": ({"response_id": Str()}, ()),
}


def _events(fields: dict[str, _Fields]) -> dict[str, Obj]:
    return {
        name: Obj({"type": Str(), "event_id": Str(), **specs}, required=required)
        for name, (specs, required) in fields.items()
    }


_SCHEMAS: dict[Dialect, dict[str, Obj]] = {"ga": _events(_GA_FIELDS), "beta": _events(_BETA_FIELDS)}
GA_EVENT_TYPES = tuple(_GA_FIELDS)
BETA_EVENT_TYPES = tuple(_BETA_FIELDS)


def validate_event(event: Any, dialect: Dialect) -> None:
    """Raise ClientError if ``event`` (parsed JSON) is not a valid client event of ``dialect``."""
    if not isinstance(event, dict):
        raise ClientError("Invalid event: expected a JSON object.", code="invalid_event")
    kind = event.get("type")
    if kind is None:
        raise ClientError("The 'type' field is missing.", code="invalid_event")
    schemas = _SCHEMAS[dialect]
    if not isinstance(kind, str) or kind not in schemas:
        shown = kind if isinstance(kind, str) else str(kind)
        raise ClientError(
            f"Invalid value: '{shown}'. Supported values are: {quote_values(schemas)}.",
            code="invalid_value",
            param="type",
        )
    schemas[kind].check(event, "")
