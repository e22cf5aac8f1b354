"""HTTP transport to a Mainspring server, with errors turned into ``RPCError``s that say what to do."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx

from ..errors import (
    AlreadyStartedError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    RPCError,
    ServerUnavailableError,
)

__all__ = ["DEFAULT_ADDRESS", "Transport", "resolve_address"]

DEFAULT_ADDRESS = "localhost:7233"

_BY_STATUS: dict[int, type[RPCError]] = {
    400: InvalidArgumentError,
    404: NotFoundError,
    409: AlreadyStartedError,
    413: PayloadTooLargeError,
    422: InvalidArgumentError,
}


def resolve_address(address: str | None) -> str:
    """The address to use: the argument, else ``$MAINSPRING_ADDRESS``, else localhost:7233."""
    return address or os.environ.get("MAINSPRING_ADDRESS") or DEFAULT_ADDRESS


def _base_url(address: str) -> str:
    address = address.strip().rstrip("/")
    if "://" not in address:
        address = "http://" + address
    return address


class Transport:
    """One keep-alive HTTP connection pool to one server."""

    def __init__(self, address: str, *, timeout: float = 10.0) -> None:
        self.address = address
        self.base_url = _base_url(address)
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
            headers={"content-type": "application/json"},
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON body (None for 204)."""
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        try:
            resp = await self._http.request(
                method,
                path,
                content=content,
                params=params,
                timeout=httpx.Timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
            raise ServerUnavailableError(
                f"cannot reach the Mainspring server at {self.address} "
                f"({type(e).__name__}: {e or 'connection failed'}); "
                "is it running? Start one with `mainspring server start-dev`, or point --address / "
                "MAINSPRING_ADDRESS at it",
                code="unavailable",
            ) from None
        except httpx.TimeoutException:
            raise ServerUnavailableError(
                f"the Mainspring server at {self.address} did not answer in time", code="timeout"
            ) from None
        if resp.status_code == 204:
            return None
        if resp.status_code < 400:
            return resp.json()
        try:
            data = resp.json()
            message = data.get("message") or resp.text
            code = data.get("code") or "error"
            details = data.get("details")
        except (ValueError, AttributeError):
            message, code, details = resp.text or resp.reason_phrase, "error", None
        cls = _BY_STATUS.get(resp.status_code, RPCError)
        if resp.status_code == 503:
            cls = ServerUnavailableError
        raise cls(message, status=resp.status_code, code=code, details=details)
