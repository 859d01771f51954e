"""GraphClient: the one path to Microsoft Graph. Contract key in, typed pages out, failures as reason codes.

What capability code uses::

    with GraphClient.for_app(cloud, entra_tenant_id, client_id, secret) as graph:
        org = graph.get("organization.list")                       # one response body (first page)
        summary = graph.get_entity("managedDeviceOverview.get")     # a single entity, either wire shape
        for page in graph.iter_pages("managedDevices.list"):        # one request per page, nothing prefetched
            store(page.items); report(page.number, len(page.items))  # stop iterating to cancel
        for item in graph.iter_items("mobileApps.list"): ...

Every failure is a GraphRequestError (graph.errors, a ProviderError) with a catalogue code, a sanitized detail that
names the request id, and never a token, secret or raw text from the response.
"""

from __future__ import annotations

import logging
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from atlas_services import ops_counts
from atlas_services.graph.budget import Budget, Budgets
from atlas_services.graph.budget_redis import default_budgets
from atlas_services.graph.clouds import CloudEndpoints
from atlas_services.graph.contracts import Contract, ContractError, ContractSet, load_contracts
from atlas_services.graph.errors import Attempts, GraphRequestError, attempts_detail, error_for
from atlas_services.graph.http import make_httpx_client, retry_after_seconds
from atlas_services.graph.retry import RetryPolicy
from atlas_services.reasons import ReasonCode

if TYPE_CHECKING:
    from atlas_services.secrets import AppCredential

log = logging.getLogger("atlas.graph")

# OData options a caller may add; $select goes through `select=` so it is checked against the contract.
QUERY_OPTIONS = frozenset({"$filter", "$top", "$orderby", "$count"})
# Every contract is a GET, so a transient 500/502 is safe to repeat (see retry.RetryPolicy.max_server_errors).
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
SERVER_ERRORS = frozenset({500, 502})
__all__ = ["GraphClient", "GraphPage", "GraphStats", "RetryPolicy"]
_SAFE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")

Json = dict[str, Any]
Params = Mapping[str, str | int | bool]


@dataclass(frozen=True)
class GraphPage:
    """One response page. ``items`` is the page's ``value`` list (a single-entity answer has none)."""

    contract_key: str
    number: int
    items: list[Json]
    request_id: str | None
    has_next: bool
    count: int | None = None


@dataclass
class GraphStats:
    """Counters for run progress and diagnostics (not thread-safe to read mid-request; read after a page)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    retry_wait_seconds: float = 0.0
    budget_wait_seconds: float = 0.0
    pages: int = 0
    items: int = 0
    token_refreshes: int = 0


class GraphClient:
    """Issues only the requests declared in graph_contracts.yaml, against one cloud's Graph host, for one app in
    one Entra tenant (whose request budget it draws from).

    ``token_provider`` is called before every request (MSAL serves it from cache), so a long paging run picks up a
    renewed token. Not meant to be shared between threads; the request budget is shared across clients.

    ``refresh_token`` gets a new token past any cache (``token_provider`` then answers with it): a 401, or a 403 for
    a permission ``directory_grants`` (read once, on the first 403) shows as granted, gets one new token and one
    retry of the same request (the same page), then fails as usual (the 403 naming the propagation delay).
    """

    def __init__(self, cloud: CloudEndpoints, token_provider: Callable[[], str], http: httpx.Client | None = None, *,
                 tenant_id: str, client_id: str, contracts: ContractSet | None = None,
                 retry: RetryPolicy | None = None, budgets: Budgets | None = None,
                 sleep: Callable[[float], None] = time.sleep, wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, refresh_token: Callable[[], str] | None = None,
                 directory_grants: Callable[[GraphClient], Collection[str] | None] | None = None) -> None:
        self.cloud = cloud
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._token_provider = token_provider
        self._refresh_token = refresh_token
        self._directory_grants = directory_grants
        self._granted: frozenset[str] | None = None
        self._granted_read = False
        self._owns_http = http is None
        self._http = http if http is not None else make_httpx_client(cloud)
        self._contracts = contracts if contracts is not None else load_contracts()
        self.retry = retry or RetryPolicy()
        self._budgets = budgets if budgets is not None else default_budgets()
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self.request_ids: deque[str] = deque(maxlen=50)
        self.stats = GraphStats()

    @classmethod
    def for_app(cls, cloud: CloudEndpoints, entra_tenant_id: str, client_id: str, secret: AppCredential,
                **kwargs: Any) -> GraphClient:
        """A client whose tokens come from MSAL for this app registration (cached, renewed when near expiry)."""
        from atlas_services.graph.tokens import acquire_graph_token, refresh_graph_token

        def token() -> str:
            return acquire_graph_token(cloud, entra_tenant_id, client_id, secret)

        def new_token() -> str:
            return refresh_graph_token(cloud, entra_tenant_id, client_id, secret)

        return cls(cloud, token, tenant_id=entra_tenant_id, client_id=client_id, refresh_token=new_token, **kwargs)

    @property
    def last_request_id(self) -> str | None:
        return self.request_ids[-1] if self.request_ids else None

    @property
    def contracts(self) -> ContractSet:
        return self._contracts

    # -- public API -------------------------------------------------------------------------------------------

    def get(self, contract_key: str, *, select: Sequence[str] | None = None, params: Params | None = None,
            path_params: Mapping[str, str] | None = None) -> Json:
        """The response body of ``contract_key`` (for a paging contract: its first page)."""
        contract, url, query = self._prepare(contract_key, select, params, path_params)
        body, _ = self._send(contract, url, query)
        return body

    def get_entity(self, contract_key: str, *, select: Sequence[str] | None = None,
                   path_params: Mapping[str, str] | None = None) -> Json:
        """A single entity. Accepts the OData form (the entity at top level) and the documentation form
        (``{"value": {...}}``), which Microsoft's samples show for Intune singletons."""
        contract, url, query = self._prepare(contract_key, select, None, path_params)
        body, request_id = self._send(contract, url, query)
        value = body.get("value")
        if isinstance(value, dict):
            return value
        if isinstance(value, list):
            raise GraphRequestError(ReasonCode.GRAPH_BAD_RESPONSE,
                                    "Microsoft Graph sent a list where one object was expected.",
                                    contract_key=contract.key, request_id=request_id)
        return body

    def iter_pages(self, contract_key: str, *, select: Sequence[str] | None = None, params: Params | None = None,
                   path_params: Mapping[str, str] | None = None) -> Iterator[GraphPage]:
        """Every page, one request per page, each issued only when the caller asks for the next page (nothing is
        prefetched or accumulated, so memory stays flat and stopping the iteration cancels the listing).

        Follows ``@odata.nextLink`` only to this cloud's Graph host over https under the contract's version; any
        other link fails with ``graph.bad_response`` before anything is sent to it. Arguments are validated
        here, before the first request.
        """
        contract, url, query = self._prepare(contract_key, select, params, path_params)
        return self._pages(contract, url, query)

    def iter_items(self, contract_key: str, *, select: Sequence[str] | None = None, params: Params | None = None,
                   path_params: Mapping[str, str] | None = None) -> Iterator[Json]:
        """The ``value`` items of every page, in order."""
        pages = self.iter_pages(contract_key, select=select, params=params, path_params=path_params)
        return (item for page in pages for item in page.items)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- request building -------------------------------------------------------------------------------------

    def _prepare(self, contract_key: str, select: Sequence[str] | None, params: Params | None,
                 path_params: Mapping[str, str] | None) -> tuple[Contract, str, dict[str, str]]:
        contract = self._contracts[contract_key]
        if contract.method != "GET":  # the loader already refuses these; kept as a second lock on the door
            raise ContractError(f"contract '{contract.key}' uses {contract.method}; only GET is allowed")
        url = f"{self.cloud.graph_base_url}/{contract.version}{contract.render_path(path_params)}"
        return contract, url, self._query(contract, select, params)

    @staticmethod
    def _query(contract: Contract, select: Sequence[str] | None, params: Params | None) -> dict[str, str]:
        query: dict[str, str] = {}
        if isinstance(select, str):
            raise ContractError(f"contract '{contract.key}': select must be a list of field names, not a string")
        fields = list(contract.select if select is None else select)
        not_allowed = [f for f in fields if f not in contract.select]
        if not_allowed:
            raise ContractError(f"contract '{contract.key}' does not allow $select of {not_allowed}; "
                                f"allowed: {list(contract.select)}")
        if fields:
            query["$select"] = ",".join(dict.fromkeys(fields))
        for name, value in (params or {}).items():
            if name not in QUERY_OPTIONS:
                raise ContractError(f"query option '{name}' is not allowed; use one of {sorted(QUERY_OPTIONS)}")
            query[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return query

    def _pages(self, contract: Contract, url: str, query: dict[str, str] | None) -> Iterator[GraphPage]:
        seen: set[str] = set()
        number = 0
        while True:
            body, request_id = self._send(contract, url, query)
            number += 1
            next_link = body.get("@odata.nextLink") if contract.paging else None
            page = _page(contract, number, body, request_id, has_next=bool(next_link))
            self.stats.pages += 1
            self.stats.items += len(page.items)
            yield page
            if not next_link:
                return
            url = self._check_next_link(contract, next_link, seen, request_id)
            query = None

    def _check_next_link(self, contract: Contract, next_link: object, seen: set[str], request_id: str | None) -> str:
        try:
            parsed = httpx.URL(next_link) if isinstance(next_link, str) else None
        except httpx.InvalidURL:
            parsed = None
        if (parsed is None or parsed.scheme != "https" or parsed.userinfo or parsed.port not in (None, 443)
                or (parsed.host or "").lower() != self.cloud.graph_host.lower()
                or not parsed.path.startswith(f"/{contract.version}/")):
            log.warning("graph %s: refused a next-page link to another host (request id %s)", contract.key,
                        request_id)
            raise GraphRequestError(
                ReasonCode.GRAPH_BAD_RESPONSE,
                "Microsoft Graph's next-page link pointed away from Microsoft Graph; Atlas did not follow it, so "
                "the access token was not sent anywhere else.", contract_key=contract.key, request_id=request_id)
        link = str(next_link)
        if link in seen:
            raise GraphRequestError(ReasonCode.GRAPH_BAD_RESPONSE, "Microsoft Graph repeated a next-page link.",
                                    contract_key=contract.key, request_id=request_id)
        seen.add(link)
        return link

    # -- sending ----------------------------------------------------------------------------------------------

    def _bucket(self, contract: Contract) -> Budget:
        key = (self.cloud.name, self.tenant_id, self.client_id, contract.throttle_class)
        return self._budgets.budget(key, contract.throttle)

    def _send(self, contract: Contract, url: str, query: dict[str, str] | None) -> tuple[Json, str | None]:
        bucket = self._bucket(contract)
        state = Attempts()
        while True:
            state.attempt += 1
            budget_wait = bucket.reserve()
            if budget_wait > 0:
                self.stats.budget_wait_seconds += budget_wait
                self._sleep(budget_wait)
            headers = {"Authorization": f"Bearer {self._token_provider()}", "Accept": "application/json",
                       "client-request-id": str(uuid.uuid4())}
            self.stats.requests += 1
            ops_counts.count(ops_counts.GRAPH_REQUESTS, contract.throttle_class)
            try:
                response = self._http.get(url, params=query, headers=headers)
            except httpx.TimeoutException:
                state.timeouts += 1
                if state.timeouts < self.retry.max_timeouts and \
                        self._retry_after_wait(contract, state, None, bucket, "timeout"):
                    continue
                raise GraphRequestError(ReasonCode.GRAPH_TIMEOUT, attempts_detail(
                    "Microsoft Graph did not answer in time", state), contract_key=contract.key) from None
            except httpx.TransportError as exc:
                if self._retry_after_wait(contract, state, None, bucket, type(exc).__name__):
                    continue
                raise GraphRequestError(ReasonCode.NETWORK_UNREACHABLE,
                                        attempts_detail("Microsoft Graph could not be reached", state),
                                        contract_key=contract.key) from None
            request_id = _safe_header(response.headers.get("request-id"))
            if request_id:
                self.request_ids.append(request_id)
            log.debug("graph %s -> HTTP %s (request id %s, attempt %d)", contract.key, response.status_code,
                      request_id, state.attempt)
            status = response.status_code
            if status in RETRYABLE_STATUS:
                if status == 429:
                    self.stats.throttled += 1
                    ops_counts.count(ops_counts.GRAPH_THROTTLED, contract.throttle_class)
                state.server_errors += status in SERVER_ERRORS
                retry_after = retry_after_seconds(response.headers.get("retry-after"), self._wall_clock())
                if state.server_errors < self.retry.max_server_errors and \
                        self._retry_after_wait(contract, state, retry_after, bucket, f"HTTP {status}",
                                               throttled=status == 429):
                    continue
            if 200 <= status < 300:
                return _json_body(response, contract, request_id), request_id
            error = error_for(response, contract, request_id, state)
            if self._new_token_may_help(contract, error, state):
                continue
            raise error

    def _new_token_may_help(self, contract: Contract, error: GraphRequestError, state: Attempts) -> bool:
        """For a 401, or a 403 for a permission the directory shows as granted: get a new token (once per request,
        within the client's allowance) and return True to send the same request again."""
        if self._refresh_token is None or state.refreshed or \
                self.stats.token_refreshes >= self.retry.max_token_refreshes:
            return False
        if error.code == ReasonCode.PERMISSION_MISSING and error.status_code == 403:
            granted = self._granted_permissions()
            state.granted_in_directory = tuple(p for p in contract.permissions if granted and p in granted)
            if not state.granted_in_directory:
                return False
        elif not (error.code == ReasonCode.AUTH_FAILED and error.status_code == 401):
            return False
        log.info("graph %s: HTTP %s, retrying once with a new token (request id %s)", contract.key,
                 error.status_code, error.request_id)
        state.refreshed, self.stats.token_refreshes = True, self.stats.token_refreshes + 1
        self._refresh_token()
        return True

    def _granted_permissions(self) -> frozenset[str] | None:
        """What the directory shows as granted, read once per client; None when it cannot tell. A 403 met while
        reading it does not start another read."""
        if not self._granted_read and self._directory_grants is not None:
            self._granted_read = True
            found = self._directory_grants(self)
            self._granted = frozenset(found) if found is not None else None
        return self._granted

    def _retry_after_wait(self, contract: Contract, state: Attempts, retry_after: float | None,
                          bucket: Budget, why: str, *, throttled: bool = False) -> bool:
        """Wait before the next attempt and return True, or return False when the policy says stop."""
        policy = self.retry
        state.last_retry_after = retry_after
        if state.attempt >= policy.max_attempts:
            return False
        if retry_after is not None:
            if retry_after > policy.max_retry_after:
                return False
            delay = retry_after
            bucket.pause(retry_after)
        else:
            delay = self._rng.uniform(0, min(policy.max_backoff, policy.base_delay * 2 ** (state.attempt - 1)))
            if throttled:
                # Intune sometimes throttles without Retry-After: the other syncs of this tenant wait too.
                bucket.pause(delay)
        if state.waited + delay > policy.max_total_wait:
            return False
        log.info("graph %s: %s, retrying in %.2f s (attempt %d of %d)", contract.key, why, delay, state.attempt + 1,
                 policy.max_attempts)
        state.waited += delay
        self.stats.retries += 1
        ops_counts.count(ops_counts.GRAPH_RETRIES, contract.throttle_class)
        self.stats.retry_wait_seconds += delay
        self._sleep(delay)
        return True


def _page(contract: Contract, number: int, body: Json, request_id: str | None, *, has_next: bool) -> GraphPage:
    value = body.get("value", [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise GraphRequestError(ReasonCode.GRAPH_BAD_RESPONSE, "A page from Microsoft Graph had no list of objects.",
                                contract_key=contract.key, request_id=request_id)
    count = body.get("@odata.count")
    return GraphPage(contract_key=contract.key, number=number, items=value, request_id=request_id,
                     has_next=has_next, count=count if isinstance(count, int) else None)


def _safe_header(value: str | None) -> str | None:
    return value if value and _SAFE_ID.match(value) else None


def _json_body(response: httpx.Response, contract: Contract, request_id: str | None) -> Json:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        log.warning("graph %s: unreadable body (HTTP %s, request id %s)", contract.key, response.status_code,
                    request_id)
        raise GraphRequestError(ReasonCode.GRAPH_BAD_RESPONSE,
                                "Microsoft Graph sent a response that is not a JSON object.",
                                contract_key=contract.key, status_code=response.status_code, request_id=request_id)
    return body
