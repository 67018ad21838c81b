"""Alerts to the data team, end to end against a real SMTP server (aiosmtpd, started here on 127.0.0.1) and a
local HTTP server standing in for the Teams or Slack webhook: one event is one mail and one POST, a second run
sends nothing new, and a delivery that fails (server down) is retried by the next run."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import socket
import ssl
import threading
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from dagster_duckdb import DuckDBResource

from publish.alerts import AlertConfig, AlertEvent, raise_alerts
from tests.conftest import run_pipeline
from tests.test_status_page import status_warehouse

NHS_NUMBER = "943 476 5919"  # a valid NHS number (Modulus 11): it must never reach an alert


def text_of(mail: Message) -> str:
    """The mail's body as the reader sees it (decoded from quoted-printable or base64)."""
    return mail.get_payload(decode=True).decode(mail.get_content_charset() or "utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    """A real SMTP server on 127.0.0.1 that keeps every message it receives; stop() and start() keep its port."""

    def __init__(self, **smtp_options):
        self.port = free_port()
        self.messages: list[Message] = []
        self.logins: list[bytes] = []
        self.options = smtp_options
        self.controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's handler hook
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"lan-team" and auth_data.password == b"s3cret"
        if ok:
            self.logins.append(auth_data.login)
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpServer:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **self.options)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class WebhookServer:
    """A local HTTP server standing in for a Teams or Slack incoming webhook: keeps every JSON body POSTed."""

    def __init__(self):
        self.port = free_port()
        self.posts: list[dict] = []
        self.status = 200
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook/T0KEN"

    def start(self) -> WebhookServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.status == 200:
                    outer.posts.append(json.loads(body))
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"1")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture()
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture()
def webhook():
    server = WebhookServer().start()
    yield server
    server.stop()


def alert_env(smtp: SmtpServer, webhook: WebhookServer, **extra: str) -> dict[str, str]:
    env = {
        "LAN_SMTP_HOST": "127.0.0.1",
        "LAN_SMTP_PORT": str(smtp.port),
        "LAN_ALERT_TO": "rho-data@example.org; analyst@example.org",
        "LAN_ALERT_FROM": "lan-warehouse@example.org",
        "LAN_ALERT_WEBHOOK": webhook.url,
    }
    env.update(extra)
    return env


QUARANTINED = AlertEvent(
    "file_quarantined:abc", "file_quarantined", "File quarantined: ELFT_2024-01.csv", "row 4: patient_ref column"
)
OVERDUE = AlertEvent("return_overdue:BSOL:2024-11", "return_overdue", "Return overdue: BSOL 2024-11 (due 2024-12-15)")


def test_one_event_is_one_mail_and_one_post_and_a_second_run_sends_nothing_new(smtp, webhook, tmp_path):
    config = AlertConfig.from_env(alert_env(smtp, webhook))
    assert config.channels == ["email", "webhook"]

    first = raise_alerts(tmp_path / "alerts", [QUARANTINED], config)
    assert [e.id for e in first.new] == ["file_quarantined:abc"]
    assert first.sent == {"email": 1, "webhook": 1} and not first.failed and first.pending == 0
    (mail,) = smtp.messages
    assert mail["Subject"] == "[LAN warehouse] File quarantined: ELFT_2024-01.csv"
    assert mail["To"] == "rho-data@example.org, analyst@example.org"
    assert mail["From"] == "lan-warehouse@example.org"
    assert "row 4: patient_ref column" in text_of(mail)
    (post,) = webhook.posts
    assert set(post) == {"text"} and "File quarantined: ELFT_2024-01.csv" in post["text"]

    again = raise_alerts(tmp_path / "alerts", [QUARANTINED], config)  # the same event found by the next run
    assert again.new == [] and again.sent == {}
    assert len(smtp.messages) == 1 and len(webhook.posts) == 1

    third = raise_alerts(tmp_path / "alerts", [QUARANTINED, OVERDUE], config)  # only the new one goes out
    assert [e.id for e in third.new] == [OVERDUE.id]
    assert len(smtp.messages) == 2 and len(webhook.posts) == 2
    assert "BSOL 2024-11" in smtp.messages[1]["Subject"] and "ELFT" not in text_of(smtp.messages[1])


def test_a_failed_delivery_is_logged_and_retried_next_run_and_never_raises(smtp, webhook, tmp_path):
    config = AlertConfig.from_env(alert_env(smtp, webhook))
    smtp.stop()
    webhook.status = 500  # the webhook answers with an error
    down = raise_alerts(tmp_path / "alerts", [QUARANTINED], config)
    assert [e.id for e in down.new] == [QUARANTINED.id]
    assert set(down.failed) == {"email", "webhook"} and down.pending == 2
    assert "ConnectionRefusedError" in down.failed["email"] and "500" in down.failed["webhook"]
    assert "T0KEN" not in json.dumps(down.failed)  # the webhook's secret URL is never logged
    ledger = json.loads((tmp_path / "alerts" / "ledger.json").read_text())
    (event,) = ledger["events"]
    assert event["deliveries"]["email"]["state"] == "pending" and event["deliveries"]["email"]["attempts"] == 1

    webhook.stop()  # now down altogether
    still = raise_alerts(tmp_path / "alerts", [QUARANTINED], config)
    assert still.new == [] and set(still.failed) == {"email", "webhook"}

    smtp.start()  # both back, on the same addresses
    webhook.status = 200
    webhook.start()
    retried = raise_alerts(tmp_path / "alerts", [QUARANTINED], config)
    assert retried.new == [] and retried.sent == {"email": 1, "webhook": 1} and retried.pending == 0
    assert len(smtp.messages) == 1 and len(webhook.posts) == 1
    assert "ELFT_2024-01.csv" in smtp.messages[0]["Subject"]

    assert raise_alerts(tmp_path / "alerts", [QUARANTINED], config).sent == {}
    assert len(smtp.messages) == 1 and len(webhook.posts) == 1


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_starttls_and_login_to_the_relay(tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = SmtpServer(tls_context=tls, require_starttls=True, auth_required=True)
    server.options["authenticator"] = server.authenticate
    server.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the relay's certificate is trusted as a CA would be
    try:
        env = {
            "LAN_SMTP_HOST": "127.0.0.1",
            "LAN_SMTP_PORT": str(server.port),
            "LAN_SMTP_STARTTLS": "true",
            "LAN_SMTP_USER": "lan-team",
            "LAN_SMTP_PASSWORD": "s3cret",
            "LAN_ALERT_TO": "rho-data@example.org",
        }
        config = AlertConfig.from_env(env)
        assert "s3cret" not in repr(config)
        outcome = raise_alerts(tmp_path / "alerts", [OVERDUE], config)
        assert outcome.sent == {"email": 1}, outcome.failed
        assert server.logins == [b"lan-team"] and len(server.messages) == 1

        wrong = AlertConfig.from_env({**env, "LAN_SMTP_PASSWORD": "nope"})
        failed = raise_alerts(tmp_path / "other", [OVERDUE], wrong)
        assert "SMTPAuthenticationError" in failed.failed["email"] and "nope" not in failed.failed["email"]
    finally:
        server.stop()


def test_with_nothing_configured_events_are_recorded_for_the_ui_and_logs_only(tmp_path):
    config = AlertConfig.from_env({})
    assert config.channels == [] and config.warnings() == []
    outcome = raise_alerts(tmp_path / "alerts", [QUARANTINED], config)
    assert [e.id for e in outcome.new] == [QUARANTINED.id] and outcome.sent == {} and outcome.pending == 0
    assert raise_alerts(tmp_path / "alerts", [QUARANTINED], config).new == []
    assert AlertConfig.from_env({"LAN_SMTP_HOST": "relay"}).warnings() == [
        "LAN_SMTP_HOST is set but LAN_ALERT_TO is not: no e-mail alerts"
    ]


# --------------------------------------------------------------------------------------------------- Dagster


@dg.op
def _breaks():
    raise RuntimeError("dbt build failed")


@dg.job
def broken_job():
    _breaks()


def test_the_run_failure_sensor_tells_of_a_failed_run_once(smtp, webhook, tmp_path, monkeypatch):
    from orchestration.alerts import alert_on_run_failure

    monkeypatch.setenv("LAN_HOME", str(tmp_path))
    for name, value in alert_env(smtp, webhook).items():
        monkeypatch.setenv(name, value)
    with dg.instance_for_test() as instance:
        result = broken_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = instance.get_records_for_run(run_id=run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_event=failure[0].event_log_entry.dagster_event,
            dagster_instance=instance,
            dagster_run=run,
        ).for_run_failure()
        alert_on_run_failure(context)
        alert_on_run_failure(context)  # evaluated again: nothing new
    (mail,) = smtp.messages
    assert mail["Subject"] == f"[LAN warehouse] Pipeline run {run.run_id[:8]} (broken_job) failed"
    assert "Steps failed" in text_of(mail)
    assert len(webhook.posts) == 1


@dg.asset
def returns_checked():
    return 1


@dg.asset_check(asset=returns_checked, blocking=True)
def rows_well_formed():
    return dg.AssetCheckResult(
        passed=False, severity=dg.AssetCheckSeverity.ERROR, description="3 rows break the structural suite."
    )


def test_a_failed_blocking_check_is_told_with_its_run(smtp, webhook, tmp_path, monkeypatch):
    from orchestration.alerts import alert_failed_run

    monkeypatch.setenv("LAN_HOME", str(tmp_path))
    for name, value in alert_env(smtp, webhook).items():
        monkeypatch.setenv(name, value)
    with dg.instance_for_test() as instance:
        result = dg.materialize([returns_checked, rows_well_formed], instance=instance, raise_on_error=False)
        assert not result.success  # a blocking check that fails fails the run
        outcome = alert_failed_run(instance, instance.get_run_by_id(result.run_id), logging.getLogger("test"))
    assert [e.kind for e in outcome.new] == ["run_failed", "blocking_check_failed"]
    (mail,) = smtp.messages
    assert mail["Subject"] == "[LAN warehouse] 1 failed run, 1 failed blocking check"
    body = text_of(mail)
    assert f"Blocking check failed: rows_well_formed on returns_checked (run {result.run_id[:8]})" in body
    assert "3 rows break the structural suite." in body


def test_the_alerts_asset_collects_quarantined_files_overdue_returns_and_failed_runs(
    smtp, webhook, tmp_path, monkeypatch
):
    from ingest.settings import Settings
    from ingest.store import connect_warehouse
    from orchestration.alerts import data_team_alerts
    from orchestration.resources import LanHome
    from publish.alerts import AlertConfig as Config

    for name, value in alert_env(smtp, webhook).items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    settings = Settings(lan_home=home)
    raise_alerts(settings.alerts, [], Config.from_env({}))  # alerting started before these events
    settings.warehouse.parent.mkdir(parents=True)
    warehouse = status_warehouse(settings.warehouse)
    con = connect_warehouse(settings)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute(
        "insert into raw.files values ('c0ffee', 'ELFT_2024-01.csv', 'quarantined', 'quarantine/x', 10, 'ELFT', "
        "null, '[]', ?, null, ?, ?, 'an-earlier-run')",
        [
            "ELFT_2024-01.csv, row 4, column patient_ref: an NHS number; the file is kept in quarantine only",
            now,
            now,
        ],
    )
    con.close()
    resources = {"lan": LanHome(lan_home=str(home)), "warehouse": DuckDBResource(database=str(warehouse))}
    with dg.instance_for_test() as instance:
        failed = broken_job.execute_in_process(instance=instance, raise_on_error=False)
        first = dg.materialize([data_team_alerts], resources=resources, instance=instance)
        second = dg.materialize([data_team_alerts], resources=resources, instance=instance)
    (mail,) = smtp.messages
    body = text_of(mail)
    assert mail["Subject"] == "[LAN warehouse] 1 quarantined file, 2 overdue returns, 1 failed run"
    assert "File quarantined: ELFT_2024-01.csv" in body and "an NHS number" in body
    assert "Return overdue: ELFT 2024-01 (due 2024-02-15)" in body and "ELFT 2024-02" in body
    assert f"Pipeline run {failed.run_id[:8]} (broken_job) failed" in body
    assert len(webhook.posts) == 1
    (event,) = first.asset_materializations_for_node("data_team_alerts")
    assert event.metadata["new_events"].value == 4 and event.metadata["sent"].value == {"email": 4, "webhook": 4}
    (again,) = second.asset_materializations_for_node("data_team_alerts")
    assert again.metadata["new_events"].value == 0


def test_a_pipeline_run_alerts_a_quarantined_file_once_without_its_personal_value(smtp, webhook, tmp_path):
    """The real pipeline (`make run`), twice: one mail and one POST for a refused file, then nothing new."""
    from ingest.reference import load_reference
    from tests.fixtures.bad_files import good_table, write_csv

    landing = tmp_path / "home" / "landing"
    landing.mkdir(parents=True)
    good = good_table(load_reference(), site="BSOL")
    write_csv(landing / "BSOL_2024-01.csv", good)
    personal = [good[0] + ["patient_ref"]] + [row + [""] for row in good[1:]]
    personal[3][6] = NHS_NUMBER
    write_csv(landing / "ELFT_2024-01.csv", [personal[0]] + [["ELFT", *r[1:]] for r in personal[1:]])

    env = alert_env(smtp, webhook)
    run_pipeline(tmp_path / "home", **env)
    (mail,) = smtp.messages
    (post,) = webhook.posts
    assert "File quarantined: ELFT_2024-01.csv" in text_of(mail)
    assert "File quarantined: ELFT_2024-01.csv" in post["text"]
    for text in (text_of(mail), mail.as_string(), post["text"]):
        assert NHS_NUMBER not in text and NHS_NUMBER.replace(" ", "") not in text
    assert (tmp_path / "home" / "publish" / "status" / "index.html").exists()

    run_pipeline(tmp_path / "home", args=("--force",), **env)  # a run with the same events: nothing sent again
    assert len(smtp.messages) == 1 and len(webhook.posts) == 1
