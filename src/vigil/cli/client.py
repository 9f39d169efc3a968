"""A small API client for everyday commands: VIGIL_URL and VIGIL_TOKEN, or what `make run` saved."""

from __future__ import annotations

from typing import Any

import httpx

from vigil.config import Settings


class CliError(Exception):
    """One clear line for the user, and a non-zero exit."""


class ApiClient:
    def __init__(self, settings: Settings) -> None:
        self.base_url = (settings.url or settings.base_url).rstrip("/")
        token = settings.token
        if token is None and settings.cli_token_file.exists():
            token = settings.cli_token_file.read_text().strip()
        if not token:
            raise CliError(
                "no API token: set VIGIL_TOKEN, or run `vigil token create --user EMAIL --save`"
            )
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach Vigil at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                message = body.get("error") or body.get("message") or response.text
            except ValueError:
                message = response.text
            raise CliError(f"{response.status_code}: {message}")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)
