"""Call control over Twilio's REST API: hang up, transfer, update (PROTOCOLS.md C.5).

Updating a call's TwiML ends its ``<Connect><Stream>``: Twilio sends ``stop`` on the media
socket and closes it, so the media side learns about the outcome the usual way.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from bridge.errors import UpstreamError
from bridge.telephony.twilio.webhook import twiml_dial

__all__ = ["TwilioRest"]


class TwilioRest:
    """A small async client for ``/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json``.

    Pass ``client`` to share a connection pool (it is then the caller's to close); otherwise the
    instance owns one and :meth:`aclose` (or ``async with``) closes it. Regional edges use
    ``base_url="https://api.{edge}.{region}.twilio.com"``.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str = "https://api.twilio.com",
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self._account_sid = account_sid
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._base_url = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        self._timeout = httpx.Timeout(timeout_s)

    async def __aenter__(self) -> TwilioRest:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this instance created it."""
        if self._owns_client:
            await self._client.aclose()

    def _call_url(self, call_sid: str) -> str:
        # SIDs are percent-encoded so that none can step outside the Call resource path.
        account = quote(self._account_sid, safe="")
        return f"{self._base_url}/2010-04-01/Accounts/{account}/Calls/{quote(call_sid, safe='')}.json"

    async def hang_up(self, call_sid: str) -> None:
        """End an in-progress call (``Status=completed``).

        Raises:
            UpstreamError: Twilio refused, or could not be reached.
        """
        await self.update(call_sid, Status="completed")

    async def transfer(self, call_sid: str, to: str, *, caller_id: str | None = None) -> None:
        """Replace the call's TwiML with ``<Dial>to</Dial>``; the media stream then stops.

        Raises:
            UpstreamError: Twilio refused, or could not be reached.
        """
        await self.update(call_sid, Twiml=twiml_dial(to, caller_id))

    async def update(self, call_sid: str, **form: str) -> dict[str, Any]:
        """POST ``form`` (``Url``, ``Method``, ``Status``, ``Twiml``, ...) to the call; returns the Call resource.

        Raises:
            UpstreamError: a transport failure (``status`` None), a non-2xx answer (``status`` the
                HTTP status, ``code`` Twilio's error code when the body carries one), or a 2xx
                answer that is not a JSON object.
        """
        try:
            response = await self._client.post(
                self._call_url(call_sid), data=form, auth=self._auth, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise UpstreamError(f"Twilio REST unreachable: {type(exc).__name__}: {exc}") from exc
        body = _json_object(response)
        if not response.is_success:
            code = body.get("code") if body is not None else None
            detail = body.get("message") if body is not None else None
            raise UpstreamError(
                f"Twilio REST {response.status_code}: {detail or response.reason_phrase}",
                status=response.status_code,
                code=None if code is None else str(code),
            )
        if body is None:
            raise UpstreamError(
                f"Twilio REST {response.status_code}: body is not a JSON object", status=response.status_code
            )
        return body


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:  # not JSON, or not decodable text
        return None
    return body if isinstance(body, dict) else None
