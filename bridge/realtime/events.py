"""Typed OpenAI Realtime events, with the GA and beta dialects mapped to one internal form.

The call logic only ever sees the dataclasses exported here. Their nested objects (sessions,
responses, items) are plain dicts in the **GA shape**; the dialect is named only when
converting to and from JSON:

* ``dump_client_event(event, dialect)`` / ``parse_client_event(data, dialect)``
* ``dump_server_event(event, dialect)`` / ``parse_server_event(data, dialect)``

Beta differences handled here (PROTOCOLS.md section B): the flat beta session
(``modalities``, ``input_audio_format: "g711_ulaw"``, ``voice``, ``turn_detection``, ...) <->
GA ``output_modalities`` and ``audio.{input,output}``; ``response.create`` and response objects
(``modalities``, ``voice``, ``output_audio_format``); assistant content parts ``text``/``audio``
<-> ``output_text``/``output_audio``; the renamed server events (``response.audio.delta`` ->
``ResponseOutputAudioDelta``, ``response.audio_transcript.*``, ``response.text.*``);
``response.function_call_arguments.done`` without ``name`` (None). Beta's
``conversation.item.created`` parses to ``ConversationItemAdded``, and so does GA's legacy
``conversation.item.created``; ``ConversationItemAdded`` dumps as ``conversation.item.added``
in GA and ``conversation.item.created`` in beta. ``ConversationItemDone`` and
``InputAudioBufferTimeoutTriggered`` exist only in GA: dumping them as beta raises.

Round trip. ``dump(parse(x)) == x`` byte for byte for every modelled event written the way
the server writes it: compact orjson text (UTF-8, not ``\\u`` escapes), keys in the canonical
order ``type``, ``event_id``, the modelled fields in the server's order (PROTOCOLS.md G.1
captures), then any other keys. Those other keys are kept, in order, in each server event's
``extra`` dict (``obfuscation``, ``logprobs``, a transcription's ``usage``): the simplest design
that loses nothing and stays correct when an event is built or changed in code (keeping the
raw text instead would go stale under ``dataclasses.replace``). Nested dicts are kept as
parsed, so their key order survives. In beta, a session or response is translated to GA and
back; that is exact when the beta object lists its audio fields as one run in the order
``voice, turn_detection, input_audio_format, output_audio_format, input_audio_transcription,
input_audio_noise_reduction, speed`` (the 2024 beta server's order). Where a modelled key may
be absent, absence and null are one value (None) and dump writes the server's usual form:
``previous_item_id`` and the ``error`` fields as null, the optional transcription-delta fields
and optional client fields not at all.

Parsing server events is total: unknown types become ``UnknownEvent``; only input that is not
a JSON object with a string ``type``, or a modelled event with a missing/mistyped field,
raises ``ProtocolError`` (its ``field`` is the dotted path). Parsing client events is strict,
as the server is: unknown types and unknown top-level keys raise too.

Hot paths: ``dump_client_event(InputAudioBufferAppend(...))`` builds the JSON text directly,
and ``parse_server_event`` of an audio delta reads the six fields without the generic table.
"""

from __future__ import annotations

from bridge.realtime._client_events import (
    ClientEvent,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
    dump_client_event,
    parse_client_event,
)
from bridge.realtime._server_codec import dump_server_event, parse_server_event
from bridge.realtime._server_events import (
    ConversationItemAdded,
    ConversationItemDeleted,
    ConversationItemDone,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    ErrorEvent,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioBufferTimeoutTriggered,
    InputAudioTranscriptionCompleted,
    InputAudioTranscriptionDelta,
    InputAudioTranscriptionFailed,
    RateLimitsUpdated,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
    UnknownEvent,
)
from bridge.realtime._wire import Dialect

__all__ = [
    "ClientEvent",
    "ConversationItemAdded",
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemDeleted",
    "ConversationItemDone",
    "ConversationItemRetrieve",
    "ConversationItemRetrieved",
    "ConversationItemTruncate",
    "ConversationItemTruncated",
    "Dialect",
    "ErrorEvent",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCleared",
    "InputAudioBufferCommit",
    "InputAudioBufferCommitted",
    "InputAudioBufferSpeechStarted",
    "InputAudioBufferSpeechStopped",
    "InputAudioBufferTimeoutTriggered",
    "InputAudioTranscriptionCompleted",
    "InputAudioTranscriptionDelta",
    "InputAudioTranscriptionFailed",
    "OutputAudioBufferClear",
    "RateLimitsUpdated",
    "ResponseCancel",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreate",
    "ResponseCreated",
    "ResponseDone",
    "ResponseFunctionCallArgumentsDelta",
    "ResponseFunctionCallArgumentsDone",
    "ResponseOutputAudioDelta",
    "ResponseOutputAudioDone",
    "ResponseOutputAudioTranscriptDelta",
    "ResponseOutputAudioTranscriptDone",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ResponseOutputTextDelta",
    "ResponseOutputTextDone",
    "ServerEvent",
    "SessionCreated",
    "SessionUpdate",
    "SessionUpdated",
    "UnknownEvent",
    "dump_client_event",
    "dump_server_event",
    "parse_client_event",
    "parse_server_event",
]
