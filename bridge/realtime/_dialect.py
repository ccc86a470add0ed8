"""GA <-> beta translation of the nested Realtime objects (private; see ``events.py``).

The bridge keeps sessions, responses and items in the GA shape. These functions rename and
regroup the fields that differ in the beta dialect (PROTOCOLS.md section B) and leave every
other key alone, in place. Each pair is written so that beta -> GA -> beta reproduces the
beta object key for key, provided the beta object lists its audio fields as one run in the
canonical beta order (``_BETA_SESSION_AUDIO`` / ``_BETA_RESPONSE_AUDIO``). That is the order
the 2024 beta server used; GA nests those fields under ``audio`` in the GA server's order.
"""

from __future__ import annotations

from typing import Any

from bridge.errors import ProtocolError

__all__ = [
    "item_from_beta",
    "item_to_beta",
    "response_from_beta",
    "response_to_beta",
    "session_from_beta",
    "session_to_beta",
]

# beta flat session key -> (GA audio side, GA key), in the canonical beta order.
_BETA_SESSION_AUDIO: dict[str, tuple[str, str]] = {
    "voice": ("output", "voice"),
    "turn_detection": ("input", "turn_detection"),
    "input_audio_format": ("input", "format"),
    "output_audio_format": ("output", "format"),
    "input_audio_transcription": ("input", "transcription"),
    "input_audio_noise_reduction": ("input", "noise_reduction"),
    "speed": ("output", "speed"),
}
_BETA_RESPONSE_AUDIO: dict[str, tuple[str, str]] = {
    "voice": ("output", "voice"),
    "output_audio_format": ("output", "format"),
}
# GA key order inside ``audio`` (the GA server's order).
_GA_AUDIO_ORDER: dict[str, tuple[str, ...]] = {
    "input": ("format", "transcription", "noise_reduction", "turn_detection"),
    "output": ("format", "voice", "speed"),
}

_BETA_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_GA_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}

# Assistant content part types: GA name -> beta name (user and system parts are the same in both).
_ASSISTANT_PART_TO_BETA = {"output_text": "text", "output_audio": "audio"}
_ASSISTANT_PART_FROM_BETA = {beta: ga for ga, beta in _ASSISTANT_PART_TO_BETA.items()}


def _format_to_beta(fmt: Any, path: str) -> Any:
    if fmt is None:
        return None
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        # beta PCM is 24 kHz only; G.711 formats carry no other key.
        if kind == "audio/pcm" and set(fmt) <= {"type", "rate"} and fmt.get("rate", 24000) == 24000:
            return "pcm16"
        if kind in _GA_FORMATS and set(fmt) == {"type"}:
            return _GA_FORMATS[kind]
    raise ProtocolError(f"'{path}' has no beta equivalent: {fmt!r}", field=path)


def _format_from_beta(fmt: Any, path: str) -> Any:
    if fmt is None:
        return None
    ga = _BETA_FORMATS.get(fmt) if isinstance(fmt, str) else None
    if ga is None:
        raise ProtocolError(f"'{path}' must be pcm16, g711_ulaw or g711_alaw, not {fmt!r}", field=path)
    return dict(ga)


def _audio_to_beta(
    audio: Any, order: dict[str, tuple[str, str]], path: str, *, drop_idle_timeout: bool
) -> dict[str, Any]:
    """Flatten GA ``audio`` into beta keys, in the canonical beta order."""
    if not isinstance(audio, dict):
        raise ProtocolError(f"'{path}' must be an object", field=path)
    sides = {side for side, _ in order.values()}
    for side, section in audio.items():
        if side not in sides or not isinstance(section, dict):
            raise ProtocolError(f"'{path}.{side}' has no beta equivalent", field=f"{path}.{side}")
        for key in section:
            if (side, key) not in order.values():
                raise ProtocolError(f"'{path}.{side}.{key}' has no beta equivalent", field=f"{path}.{side}.{key}")
    out: dict[str, Any] = {}
    for beta_key, (side, key) in order.items():
        section = audio.get(side)
        if section is None or key not in section:
            continue
        value = section[key]
        if key == "format":
            value = _format_to_beta(value, f"{path}.{side}.format")
        elif key == "turn_detection" and drop_idle_timeout and isinstance(value, dict):
            # beta turn detection has no idle timeout; a beta server rejects unknown parameters.
            value = {k: v for k, v in value.items() if k != "idle_timeout_ms"}
        out[beta_key] = value
    return out


def _audio_from_beta(flat: dict[str, Any], order: dict[str, tuple[str, str]], path: str) -> dict[str, Any]:
    """Nest beta audio keys (``flat``: beta key -> value) as GA ``audio``, in the GA order."""
    found: dict[str, dict[str, Any]] = {"input": {}, "output": {}}
    for beta_key, value in flat.items():
        side, key = order[beta_key]
        found[side][key] = _format_from_beta(value, f"{path}.{beta_key}") if key == "format" else value
    return {
        side: {key: found[side][key] for key in _GA_AUDIO_ORDER[side] if key in found[side]}
        for side in ("input", "output")
        if found[side]
    }


def _nest_from_beta(
    obj: dict[str, Any], audio_keys: dict[str, tuple[str, str]], renames: dict[str, str], path: str
) -> dict[str, Any]:
    """Rename beta keys and gather its audio keys into ``audio`` where the first one stood."""
    out: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        if key in audio_keys:
            out.setdefault("audio", None)  # holds the position; filled below
            flat[key] = value
        elif key in ("input", "output") and isinstance(value, list):
            out[key] = [item_from_beta(item) for item in value]
        else:
            out[renames.get(key, key)] = value
    if flat:
        out["audio"] = _audio_from_beta(flat, audio_keys, path)
    return out


def _flatten_to_beta(
    obj: dict[str, Any],
    audio_keys: dict[str, tuple[str, str]],
    renames: dict[str, str],
    path: str,
    *,
    drop_idle_timeout: bool,
) -> dict[str, Any]:
    """Rename GA keys and spread GA ``audio`` as beta keys where it stood."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "audio":
            out.update(_audio_to_beta(value, audio_keys, f"{path}.audio", drop_idle_timeout=drop_idle_timeout))
        elif key in ("input", "output") and isinstance(value, list):
            out[key] = [item_to_beta(item) for item in value]
        else:
            out[renames.get(key, key)] = value
    return out


_SESSION_TO_BETA = {"output_modalities": "modalities", "max_output_tokens": "max_response_output_tokens"}
_SESSION_FROM_BETA = {beta: ga for ga, beta in _SESSION_TO_BETA.items()}
_RESPONSE_TO_BETA = {"output_modalities": "modalities"}
_RESPONSE_FROM_BETA = {"modalities": "output_modalities"}
# response.create names the token limit differently from the response object it creates.
_PARAMS_TO_BETA = {**_RESPONSE_TO_BETA, "max_output_tokens": "max_response_output_tokens"}
_PARAMS_FROM_BETA = {beta: ga for ga, beta in _PARAMS_TO_BETA.items()}


def session_to_beta(session: dict[str, Any], *, client: bool, path: str = "session") -> dict[str, Any]:
    """GA session -> beta flat session.

    ``client`` drops ``turn_detection.idle_timeout_ms``, which a beta server does not accept;
    a beta server's own session (which may carry it) is left whole.

    Raises:
        ProtocolError: the session uses something beta cannot express (a transcription
            session, an unknown audio field, a non-24 kHz PCM format).
    """
    if session.get("type", "realtime") != "realtime":
        raise ProtocolError(f"'{path}.type' must be realtime in the beta dialect", field=f"{path}.type")
    without_type = {k: v for k, v in session.items() if k != "type"}
    return _flatten_to_beta(without_type, _BETA_SESSION_AUDIO, _SESSION_TO_BETA, path, drop_idle_timeout=client)


def session_from_beta(session: dict[str, Any], path: str = "session") -> dict[str, Any]:
    """Beta flat session -> GA session (``type: realtime`` first, audio fields nested)."""
    return _nest_from_beta({"type": "realtime", **session}, _BETA_SESSION_AUDIO, _SESSION_FROM_BETA, path)


def response_to_beta(response: dict[str, Any], *, params: bool, path: str = "response") -> dict[str, Any]:
    """GA response -> beta response.

    ``params`` selects the ``response.create`` parameters (whose token limit is
    ``max_response_output_tokens`` in beta) rather than a server response object.
    """
    renames = _PARAMS_TO_BETA if params else _RESPONSE_TO_BETA
    return _flatten_to_beta(response, _BETA_RESPONSE_AUDIO, renames, path, drop_idle_timeout=False)


def response_from_beta(response: dict[str, Any], *, params: bool, path: str = "response") -> dict[str, Any]:
    """Beta response (or ``response.create`` parameters) -> GA shape."""
    renames = _PARAMS_FROM_BETA if params else _RESPONSE_FROM_BETA
    return _nest_from_beta(response, _BETA_RESPONSE_AUDIO, renames, path)


def _retype_assistant(item: Any, names: dict[str, str]) -> Any:
    if not isinstance(item, dict) or item.get("role") != "assistant" or item.get("type") != "message":
        return item
    content = item.get("content")
    if not isinstance(content, list) or not any(isinstance(p, dict) and p.get("type") in names for p in content):
        return item
    parts = [
        {**part, "type": names[part["type"]]} if isinstance(part, dict) and part.get("type") in names else part
        for part in content
    ]
    return {**item, "content": parts}


def item_to_beta(item: Any) -> Any:
    """GA item -> beta item: assistant ``output_text``/``output_audio`` parts become ``text``/``audio``."""
    return _retype_assistant(item, _ASSISTANT_PART_TO_BETA)


def item_from_beta(item: Any) -> Any:
    """Beta item -> GA item: assistant ``text``/``audio`` parts become ``output_text``/``output_audio``."""
    return _retype_assistant(item, _ASSISTANT_PART_FROM_BETA)
