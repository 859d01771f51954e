"""GraphClient: the one path to Microsoft Graph. Contract key in, JSON pages out, failures as reason codes."""

from __future__ import annotations

import json
import logging
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from atlas_services.errors import ProviderError
from atlas_services.graph.clouds import Cloud
from atlas_services.graph.contracts import Contract, ContractError, ContractSet, load_contracts
from atlas_services.graph.http import make_httpx_client

log = logging.getLogger("atlas.graph")

# OData options a caller may add; $select goes through `select=` so it is checked against the contract.
QUERY_OPTIONS = frozenset({"$filter", "$top", "$orderby", "$count", "$search", "$expand"})
RETRYABLE_STATUS = frozenset({429, 503, 504})
_ERROR_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")
_SCOPES_IN_MESSAGE = re.compile(r"one of the following scopes:\s*([A-Za-z.,\s]+)")
_PERMISSION = re.compile(r"^[A-Z][A-Za-z]*(\.[A-Z][A-Za-z]*)+$")

Json = dict[str, Any]


class GraphRequestError(ProviderError):
    """A Graph call failed; carries the request id Microsoft support asks for."""

    def __init__(self, code: str, detail: str | None = None, remediation: str | None = None, *,
                 contract_key: str | None = None, status_code: int | None = None,
                 request_id: str | None = None) -> None:
        if request_id and detail:
            detail = f"{detail} (request id {request_id})"
        super().__init__(code, detail, remediation)
        self.contract_key = contract_key
        self.status_code = status_code
        self.request_id = request_id


class GraphClient:
    """Issues only the requests declared in graph_contracts.yaml, against one cloud's Graph host.

    ``token_provider`` is called before every request (MSAL serves it from cache), so a long paging run picks up a
    renewed token. Retries 429/503/504 and connection errors with capped, jittered backoff within a time budget.
    """

    def __init__(self, cloud: Cloud, token_provider: Callable[[], str], http: httpx.Client | None = None, *,
                 contracts: ContractSet | None = None, max_attempts: int = 4, time_budget_seconds: float = 60.0,
                 max_retry_after_seconds: float = 5.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cloud = cloud
        self._token_provider = token_provider
        self._owns_http = http is None
        self._http = http if http is not None else make_httpx_client(cloud)
        self._contracts = contracts if contracts is not None else load_contracts()
        self._max_attempts = max(1, max_attempts)
        self._budget = time_budget_seconds
        self._max_delay = max_retry_after_seconds
        self._sleep = sleep
        self._clock = clock
        self.request_ids: deque[str] = deque(maxlen=50)

    @property
    def last_request_id(self) -> str | None:
        return self.request_ids[-1] if self.request_ids else None

    def get(self, contract_key: str, *, select: list[str] | tuple[str, ...] | None = None,
            params: Mapping[str, str | int | bool] | None = None,
            path_params: Mapping[str, str] | None = None) -> Json:
        """The first (or only) page of ``contract_key``."""
        contract = self._contracts[contract_key]
        return self._send(contract, self._url(contract, path_params), self._query(contract, select, params))

    def iter_pages(self, contract_key: str, *, select: list[str] | tuple[str, ...] | None = None,
                   params: Mapping[str, str | int | bool] | None = None,
                   path_params: Mapping[str, str] | None = None) -> Iterator[Json]:
        """Every page, following ``@odata.nextLink`` only while it stays on this cloud's Graph host."""
        contract = self._contracts[contract_key]
        page = self._send(contract, self._url(contract, path_params), self._query(contract, select, params))
        seen: set[str] = set()
        while True:
            yield page
            next_link = page.get("@odata.nextLink")
            if not contract.paging or not next_link:
                return
            self._check_next_link(contract, next_link, seen)
            seen.add(next_link)
            page = self._send(contract, next_link, None)

    def iter_items(self, contract_key: str, **kwargs: Any) -> Iterator[Json]:
        """The ``value`` items of every page."""
        for page in self.iter_pages(contract_key, **kwargs):
            value = page.get("value")
            if not isinstance(value, list):
                raise GraphRequestError("graph.bad_response", "A page had no 'value' list.", contract_key=contract_key)
            yield from (item for item in value if isinstance(item, dict))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- request building -------------------------------------------------------------------------------------

    def _url(self, contract: Contract, path_params: Mapping[str, str] | None) -> str:
        given = dict(path_params or {})
        if set(given) != set(contract.path_params):
            raise ContractError(f"contract '{contract.key}' needs path parameters {list(contract.path_params)}, "
                                f"got {sorted(given)}")
        path = contract.path
        for name, value in given.items():
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        return f"{self.cloud.graph_base_url}/{contract.version}{path}"

    @staticmethod
    def _query(contract: Contract, select: list[str] | tuple[str, ...] | None,
               params: Mapping[str, str | int | bool] | None) -> dict[str, str]:
        query: dict[str, str] = {}
        fields = list(contract.select if select is None else select)
        not_allowed = [f for f in fields if f not in contract.select]
        if not_allowed:
            raise ContractError(f"contract '{contract.key}' does not allow $select of {not_allowed}; "
                                f"allowed: {list(contract.select)}")
        if fields:
            query["$select"] = ",".join(fields)
        for name, value in (params or {}).items():
            if name not in QUERY_OPTIONS:
                raise ContractError(f"query option '{name}' is not allowed; use one of {sorted(QUERY_OPTIONS)}")
            query[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return query

    def _check_next_link(self, contract: Contract, next_link: object, seen: set[str]) -> None:
        url = httpx.URL(str(next_link)) if isinstance(next_link, str) else None
        if url is None or url.scheme != "https" or url.host != self.cloud.graph_host:
            raise GraphRequestError("graph.bad_response", "A next-page link pointed away from Microsoft Graph.",
                                    contract_key=contract.key)
        if next_link in seen:
            raise GraphRequestError("graph.bad_response", "Microsoft Graph repeated a next-page link.",
                                    contract_key=contract.key)

    # -- sending ----------------------------------------------------------------------------------------------

    def _send(self, contract: Contract, url: str, query: dict[str, str] | None) -> Json:
        if contract.method != "GET":  # the loader already refuses these; kept as a second lock on the door
            raise ContractError(f"contract '{contract.key}' uses {contract.method}; only GET is allowed")
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            headers = {"Authorization": f"Bearer {self._token_provider()}", "Accept": "application/json",
                       "client-request-id": str(uuid.uuid4())}
            try:
                response = self._http.get(url, params=query, headers=headers)
            except httpx.TimeoutException:
                raise GraphRequestError("graph.timeout", contract_key=contract.key) from None
            except httpx.TransportError as exc:
                delay = self._backoff(attempt, None)
                if not self._may_retry(attempt, started, delay):
                    log.info("graph %s: %s after %d attempt(s)", contract.key, type(exc).__name__, attempt)
                    raise GraphRequestError("network.unreachable", contract_key=contract.key) from None
                self._sleep(delay)
                continue
            request_id = response.headers.get("request-id")
            if request_id:
                self.request_ids.append(request_id)
            log.debug("graph %s -> %s (request id %s)", contract.key, response.status_code, request_id)
            if response.status_code in RETRYABLE_STATUS:
                delay = self._backoff(attempt, response.headers.get("retry-after"))
                if self._may_retry(attempt, started, delay):
                    self._sleep(delay)
                    continue
            if 200 <= response.status_code < 300:
                return _json_body(response, contract, request_id)
            raise _error_for(response, contract, request_id)

    def _may_retry(self, attempt: int, started: float, delay: float) -> bool:
        return attempt < self._max_attempts and self._clock() - started + delay <= self._budget

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            seconds = _retry_after_seconds(retry_after)
            if seconds is not None:
                return min(seconds, self._max_delay)
        # Full jitter: spreads retries from many workers instead of synchronizing them.
        return random.uniform(0, min(self._max_delay, 0.5 * 2 ** (attempt - 1)))


def _retry_after_seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _json_body(response: httpx.Response, contract: Contract, request_id: str | None) -> Json:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise GraphRequestError("graph.bad_response", "Microsoft Graph sent a response that is not a JSON object.",
                                contract_key=contract.key, status_code=response.status_code, request_id=request_id)
    return body


def _error_for(response: httpx.Response, contract: Contract, request_id: str | None) -> GraphRequestError:
    status = response.status_code
    graph_code, message = _graph_error(response)
    log.info("graph %s failed: HTTP %s %s (request id %s)", contract.key, status, graph_code or "", request_id)
    if status == 401:
        code, detail = "auth.failed", "Microsoft Graph did not accept the access token."
    elif status == 403:
        needed = _scopes_from_message(message) or list(contract.permissions)
        code = "permission.missing"
        detail = (f"Microsoft Graph refused '{contract.key}': the app needs one of these application permissions: "
                  f"{', '.join(needed)}.")
    elif status == 429:
        code, detail = "graph.throttled", "Microsoft Graph kept throttling the requests."
    elif status >= 500:
        code, detail = "graph.unavailable", f"Microsoft Graph answered HTTP {status}."
    else:
        suffix = f" ({graph_code})" if graph_code else ""
        code, detail = "graph.bad_response", f"Microsoft Graph refused the request with HTTP {status}{suffix}."
    return GraphRequestError(code, detail, contract_key=contract.key, status_code=status, request_id=request_id)


def _graph_error(response: httpx.Response) -> tuple[str | None, str]:
    """Graph's error code (only if it looks like an identifier) and raw message; the message is parsed, never
    shown, because it is free text from outside."""
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return None, ""
    if not isinstance(error, dict):
        return None, ""
    code = error.get("code")
    message = error.get("message")
    return (code if isinstance(code, str) and _ERROR_CODE.match(code) else None,
            message if isinstance(message, str) else "")


def _scopes_from_message(message: str) -> list[str]:
    """Permissions named by Intune's 403, whose message is itself a JSON document with a "Message" sentence."""
    try:
        inner = json.loads(message)
        text = inner.get("Message", "") if isinstance(inner, dict) else ""
    except ValueError:
        text = message
    match = _SCOPES_IN_MESSAGE.search(text if isinstance(text, str) else "")
    if not match:
        return []
    names = [n.strip().rstrip(".") for n in match.group(1).split(",")]
    return [n for n in names if _PERMISSION.match(n)]
