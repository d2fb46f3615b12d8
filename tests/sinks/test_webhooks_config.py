"""[[webhooks]] in the config file, and Outputs posting pipeline events to them."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from listenin.config import ConfigError, load_config, webhooks_config
from listenin.service import Outputs
from records.events import CallStarted
from sinks.webhook_policy import DEFAULT_EVENTS, verify

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "listenin.toml"
    path.write_text(text)
    return path


def test_webhook_tables_are_read_with_secrets_and_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "abc")
    path = write(
        tmp_path,
        """
[[webhooks]]
url = "https://a.example/hook"
secret_env = "HOOK_SECRET"
[[webhooks]]
url = "http://b.example/"
events = ["transcript.final"]
parties = ["agent"]
timeout_s = 2
dead_letter_file = "/tmp/dead.jsonl"
""",
    )
    first, second = webhooks_config(load_config(path), archive_root=tmp_path)
    assert (first.secret, first.events) == (b"abc", DEFAULT_EVENTS)
    assert first.dead_letter_file == tmp_path / "webhooks-dead-letter.jsonl"
    assert (second.parties, second.timeout_s, second.secret) == (("agent",), 2.0, b"")
    assert second.dead_letter_file == Path("/tmp/dead.jsonl")
    assert "abc" not in repr(first)


@pytest.mark.parametrize(
    ("text", "message"),
    [('[[webhooks]]\nurl = "http://x/"\nretries = 3\n', "[webhooks #1] retries: unknown key"),
     ('[[webhooks]]\nevents = ["call.ended"]\n', "[webhooks #1] url: missing"),
     ('[[webhooks]]\nurl = "http://x/"\nevents = ["nope"]\n', "[webhooks #1] events must be"),
     ('[[webhooks]]\nurl = "http://x/"\nmax_retries = "3"\n', "expected an integer"),
     ('[[webhooks]]\nurl = "http://x/"\nsecret_env = "UNSET_HOOK_VAR_X"\n', "is not set"),
     ('[webhooks]\nurl = "http://x/"\n', "array of tables")],
)  # fmt: skip
def test_bad_webhook_tables_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=None) as err:
        webhooks_config(load_config(write(tmp_path, text)))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_every_webhook_key_is_documented():
    from listenin.config import WEBHOOK_KEYS

    assert not [k for k in WEBHOOK_KEYS[0] if f"`{k}`" not in README]


def test_outputs_post_events_to_webhooks(tmp_path, monkeypatch):
    got: list[tuple[str, str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            got.append((body, self.headers["X-Listenin-Timestamp"],
                        self.headers["X-Listenin-Signature"]))  # fmt: skip
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()  # fmt: skip
    monkeypatch.setenv("HOOK_SECRET", "k")
    path = write(tmp_path, f'[[webhooks]]\nurl = "http://127.0.0.1:{server.server_address[1]}/"'
                           '\nsecret_env = "HOOK_SECRET"\n')  # fmt: skip
    out = Outputs(webhooks=webhooks_config(load_config(path)))
    out.start()
    event = CallStarted("c1", 0.0)
    out.on_event(event)
    out.close()
    server.shutdown()
    server.server_close()
    assert [body for body, _, _ in got] == [event.to_json()]
    assert json.loads(got[0][0])["type"] == "call.started"
    assert verify(b"k", got[0][1], got[0][0], got[0][2])


def test_a_target_that_takes_partials_makes_them_wanted():
    from sinks.webhook_policy import WebhookConfig

    out = Outputs(webhooks=[WebhookConfig("http://127.0.0.1:9/")])  # default events: partials too
    assert out.wants_partials("c", "agent")
    finals = WebhookConfig("http://127.0.0.1:9/", events=("transcript.final",))
    assert not Outputs(webhooks=[finals]).wants_partials("c", "agent")
