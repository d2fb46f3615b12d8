"""platforms/http.py against a real local HTTP server: retries, errors, cookies, timeouts, logs."""

from __future__ import annotations

import threading

import pytest

from pbxsim.platforms.server import FakeServer, Reply
from platforms.errors import (
    AuthError,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
)
from platforms.http import MAX_BODY_BYTES, HttpClient
from platforms.pacing import Backoff


class TokenInQuery:
    """An Auth like Yeastar's: ``?access_token=``; counts invalidations."""

    def __init__(self) -> None:
        self.token, self.invalidated = "stale-token-1234", 0

    def apply(self, headers: dict[str, str], query: dict[str, str]) -> None:
        query["access_token"] = self.token

    def invalidate(self) -> None:
        self.invalidated += 1
        self.token = "fresh-token-5678"


@pytest.fixture
def server():
    fake = FakeServer()
    release = threading.Event()
    fake.route("GET", "/echo", lambda r, m: Reply(200, {"query": r.query, "ua": r.headers}))
    fake.route("POST", "/echo", lambda r, m: Reply(200, {"body": r.json(), "form": r.form()}))
    fake.route("POST", "/login", lambda r, m: Reply(200, {}, {"Set-Cookie": "GWSSESSION=s1"}))
    fake.route("GET", "/me", lambda r, m: Reply(200, {"cookie": r.headers.get("cookie")}))
    fake.route("GET", "/big", lambda r, m: Reply(200, b"[" + b" " * MAX_BODY_BYTES + b"]"))
    slow = lambda r, m: Reply(200, {}) if release.wait(10) else Reply(500)  # noqa: E731
    fake.route("GET", "/slow", slow, locked=False)
    fake.start()
    yield fake
    release.set()
    fake.stop()


def client(server: FakeServer, fake_clock, **kw) -> HttpClient:
    kw.setdefault("describe", lambda b: (b.get("code"), b.get("message")))
    return HttpClient(
        "vendor", server.url + "/", sleep=fake_clock.sleep, clock=fake_clock.clock, **kw
    )


def test_json_query_form_and_headers(server, fake_clock):
    http = client(server, fake_clock, user_agent="OpenAPI")
    got = http.request("GET", "/echo", query={"a": "1 2"}).json()
    assert got["query"] == {"a": "1 2"} and got["ua"]["user-agent"] == "OpenAPI"
    assert got["ua"]["accept"] == "application/json"
    assert http.request("POST", "/echo", json_body={"x": [1]}).json()["body"] == {"x": [1]}
    assert http.request("POST", "/echo", form={"grant": "jwt"}).json()["form"] == {"grant": "jwt"}
    http.close()
    assert http.request("GET", "/echo").status == 200  # reopens after close
    assert http.requests_sent == 4


def test_429_and_5xx_are_retried_with_backoff_honouring_retry_after(server, fake_clock):
    http = client(server, fake_clock, backoff=Backoff(max_retries=3))
    server.fail(
        "GET", "/echo", 429, {"code": "CMN-301", "message": "slow"}, headers={"Retry-After": "7"}
    )
    server.fail("GET", "/echo", 503)
    assert http.request("GET", "/echo").status == 200
    assert fake_clock.sleeps == [7, 2]  # Retry-After wins over 1 s; then 2 s
    server.fail("GET", "/echo", 503, times=4)
    with pytest.raises(ServerError, match=r"vendor: GET /echo: 503: error 503"):
        http.request("GET", "/echo")
    assert fake_clock.sleeps[2:] == [1, 2, 4]
    server.fail("POST", "/echo", 503)
    with pytest.raises(ServerError):
        http.request("POST", "/echo")  # not idempotent: not retried
    server.fail("POST", "/echo", 429, headers={"Retry-After": "3"}, times=9)
    with pytest.raises(RateLimited) as err:
        http.request("POST", "/echo")  # a 429 was not processed: retried even so
    assert err.value.retry_after_s == 3 and fake_clock.sleeps[5:] == [3, 3, 4]


def test_errors_are_typed_and_name_the_platform_code(server, fake_clock):
    http = client(server, fake_clock)
    server.fail("GET", "/echo", 404, {"code": "CMN-102", "message": "no such call"})
    with pytest.raises(NotFound, match=r"vendor: GET /echo: 404 CMN-102: no such call") as err:
        http.request("GET", "/echo")
    assert (err.value.status, err.value.code) == (404, "CMN-102")
    with pytest.raises(MalformedResponse, match="response is not JSON"):
        http.request("GET", "/big").json()  # cut at MAX_BODY_BYTES
    slow = client(server, fake_clock, timeout_s=0.2, backoff=Backoff(max_retries=0))
    with pytest.raises(TransportError, match=r"vendor: GET /slow: no response"):
        slow.request("GET", "/slow")


def test_401_reauthenticates_once_and_tokens_stay_out_of_logs(server, fake_clock, debug_logs):
    http, auth = client(server, fake_clock), TokenInQuery()
    server.fail("GET", "/echo", 401)
    assert http.request("GET", "/echo", auth=auth).json()["query"]["access_token"] == auth.token
    assert auth.invalidated == 1
    server.fail("GET", "/echo", 401, times=2)
    with pytest.raises(AuthError):
        http.request("GET", "/echo", auth=auth)
    assert auth.invalidated == 2 and "re-authenticating once" in debug_logs.text
    assert "HTTP Request: GET" in debug_logs.text  # httpx's own line, without the query
    assert "stale-token" not in debug_logs.text and "fresh-token" not in debug_logs.text


def test_cookies_are_kept_between_requests(server, fake_clock):
    http = client(server, fake_clock)
    assert http.request("GET", "/me").json() == {"cookie": None}
    http.request("POST", "/login")
    assert http.request("GET", "/me").json() == {"cookie": "GWSSESSION=s1"}


def test_no_server_is_a_transport_error(fake_clock):
    http = HttpClient("vendor", "http://127.0.0.1:9", sleep=fake_clock.sleep)
    with pytest.raises(TransportError, match=r"GET /x: no response \(.*refused"):
        http.request("GET", "/x")
    assert fake_clock.sleeps == [1, 2, 4, 8] and http.requests_sent == 5
