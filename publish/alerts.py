"""Alerts to the data team: each event sent once, by e-mail (SMTP) and/or a Teams or Slack incoming webhook.

Events (a run failed, a file was quarantined, returns became overdue, a blocking check failed) are kept in a
ledger, `LAN_HOME/alerts/ledger.json`, with one delivery per channel configured when the event was recorded.
An event already in the ledger is never recorded again (once per event); a delivery that fails stays pending
and is tried again the next time alerts are processed (the next run), and never raises. With no channel
configured an event is recorded with no delivery: it is seen in the Dagster UI and the logs only.

The ledger is a JSON file rather than a warehouse table because the run-failure sensor writes it from the
Dagster daemon while a run may hold the warehouse's one writer lock; a file lock keeps writers in turn.
"""

from __future__ import annotations

import fcntl
import json
import os
import smtplib
import ssl
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

LEDGER_NAME = "ledger.json"
TIMEOUT_SECONDS = 15
MAX_LISTED = 100  # events listed in one message; the rest are counted
MAX_DETAIL_LINES = 12  # lines of detail per event (a file's problems: the full list is in its .reason.txt)

KIND_LABELS = {  # kind: (one, several)
    "run_failed": ("failed run", "failed runs"),
    "blocking_check_failed": ("failed blocking check", "failed blocking checks"),
    "file_quarantined": ("quarantined file", "quarantined files"),
    "return_overdue": ("overdue return", "overdue returns"),
}


@dataclass(frozen=True)
class AlertEvent:
    """Something the data team must hear about. `id` is stable: the same event found again has the same id."""

    id: str
    kind: str  # a key of KIND_LABELS
    title: str  # one line
    detail: str = ""  # plain text, never a personal value


@dataclass(frozen=True)
class AlertConfig:
    """Where alerts go, from the environment (README "Settings"). Secrets are kept out of repr()."""

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    alert_to: tuple[str, ...] = ()
    alert_from: str = "lan-warehouse@localhost"
    webhook: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertConfig:
        env = os.environ if env is None else env
        recipients = env.get("LAN_ALERT_TO", "").replace(";", ",").split(",")
        return cls(
            smtp_host=env.get("LAN_SMTP_HOST") or None,
            smtp_port=int(env.get("LAN_SMTP_PORT") or 25),
            smtp_starttls=env.get("LAN_SMTP_STARTTLS", "").strip().lower() in ("1", "true", "yes", "on"),
            smtp_user=env.get("LAN_SMTP_USER") or None,
            smtp_password=env.get("LAN_SMTP_PASSWORD") or None,
            alert_to=tuple(r.strip() for r in recipients if r.strip()),
            alert_from=env.get("LAN_ALERT_FROM") or "lan-warehouse@localhost",
            webhook=env.get("LAN_ALERT_WEBHOOK") or None,
        )

    @property
    def channels(self) -> list[str]:
        """The channels configured: `email` (needs LAN_SMTP_HOST and LAN_ALERT_TO), `webhook`."""
        return [name for name, on in (("email", self.smtp_host and self.alert_to), ("webhook", self.webhook)) if on]

    def warnings(self) -> list[str]:
        """Half-configured channels, said plainly."""
        if self.smtp_host and not self.alert_to:
            return ["LAN_SMTP_HOST is set but LAN_ALERT_TO is not: no e-mail alerts"]
        if self.alert_to and not self.smtp_host:
            return ["LAN_ALERT_TO is set but LAN_SMTP_HOST is not: no e-mail alerts"]
        return []


@dataclass
class Ledger:
    """Every event recorded and its deliveries, by event id (in the order recorded)."""

    started_at: str
    events: dict[str, dict] = field(default_factory=dict)

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.started_at)

    def pending(self, channel: str) -> list[dict]:
        return [e for e in self.events.values() if e["deliveries"].get(channel, {}).get("state") == "pending"]


@dataclass
class AlertOutcome:
    """What one pass did: the events new to the ledger, deliveries sent and failed by channel, still pending."""

    new: list[AlertEvent] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    pending: int = 0


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@contextmanager
def open_ledger(folder: Path, now: datetime | None = None) -> Iterator[Ledger]:
    """The ledger in `folder`, locked against other writers (the sensor, a run) and saved atomically on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LEDGER_NAME
    with (folder / ".ledger.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            ledger = Ledger(started_at=data["started_at"], events={e["id"]: e for e in data["events"]})
        else:
            ledger = Ledger(started_at=(now or _now()).isoformat())
        yield ledger
        tmp = folder / f".{LEDGER_NAME}.part"
        payload = {"started_at": ledger.started_at, "events": list(ledger.events.values())}
        tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def record(ledger: Ledger, events: Sequence[AlertEvent], channels: Sequence[str], now: datetime) -> list[AlertEvent]:
    """Add the events the ledger does not hold yet, each with a pending delivery per channel; return them."""
    new = []
    for event in events:
        if event.id in ledger.events:
            continue
        ledger.events[event.id] = {
            "id": event.id,
            "kind": event.kind,
            "title": event.title,
            "detail": event.detail,
            "recorded_at": now.isoformat(),
            "deliveries": {
                c: {"state": "pending", "attempts": 0, "sent_at": None, "last_error": None} for c in channels
            },
        }
        new.append(event)
    return new


def compose(events: Sequence[Mapping]) -> tuple[str, str]:
    """One message for `events` (dicts as in the ledger): a subject line and a plain-text body."""
    counts: dict[str, int] = {}
    for event in events:
        counts[event["kind"]] = counts.get(event["kind"], 0) + 1
    summary = ", ".join(f"{n} {KIND_LABELS.get(k, (k, k))[n != 1]}" for k, n in counts.items())
    subject = f"[LAN warehouse] {events[0]['title']}" if len(events) == 1 else f"[LAN warehouse] {summary}"
    lines = [f"LAN equity warehouse: {summary}.", ""]
    for event in events[:MAX_LISTED]:
        lines.append(f"* {event['title']}")
        detail = [line for line in event["detail"].splitlines() if line.strip()]
        lines += [f"    {line}" for line in detail[:MAX_DETAIL_LINES]]
        if len(detail) > MAX_DETAIL_LINES:
            lines.append(f"    ... and {len(detail) - MAX_DETAIL_LINES} more lines")
    if len(events) > MAX_LISTED:
        lines.append(f"* ... and {len(events) - MAX_LISTED} more (see LAN_HOME/alerts/ledger.json)")
    lines += ["", "The status page (publish/status/index.html) and the Dagster UI show the details."]
    return subject, "\n".join(lines) + "\n"


def send_email(config: AlertConfig, subject: str, body: str) -> None:
    """Send one message through the SMTP relay (STARTTLS and login when configured)."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config.alert_from
    message["To"] = ", ".join(config.alert_to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config.alert_from.rpartition("@")[2] or None)
    message.set_content(body)
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
        if config.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if config.smtp_user:
            smtp.login(config.smtp_user, config.smtp_password or "")
        smtp.send_message(message)


def post_webhook(url: str, text: str) -> None:
    """POST `{"text": ...}` to a Teams or Slack incoming webhook; an HTTP error status raises."""
    request = urllib.request.Request(
        url, data=json.dumps({"text": text}).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        response.read()


Sender = Callable[[AlertConfig, str, str], None]
SENDERS: dict[str, Sender] = {
    "email": send_email,
    "webhook": lambda config, subject, body: post_webhook(config.webhook or "", f"{subject}\n\n{body}"),
}


def deliver(ledger: Ledger, config: AlertConfig, now: datetime, outcome: AlertOutcome) -> None:
    """Send every pending delivery of the channels configured here, one message per channel; a failure is noted
    and left pending, never raised. Deliveries to a channel not configured in this process are left as they are
    (another process, e.g. the daemon, may have it)."""
    for channel in config.channels:
        events = ledger.pending(channel)
        if not events:
            continue
        subject, body = compose(events)
        try:
            SENDERS[channel](config, subject, body)
        except Exception as exc:  # noqa: BLE001 - any delivery failure is retried next time, never fatal
            error = f"{type(exc).__name__}: {exc}"[:300]
            outcome.failed[channel] = error
            for event in events:
                event["deliveries"][channel].update(
                    attempts=event["deliveries"][channel]["attempts"] + 1, last_error=error
                )
            continue
        outcome.sent[channel] = len(events)
        for event in events:
            delivery = event["deliveries"][channel]
            delivery.update(state="sent", attempts=delivery["attempts"] + 1, sent_at=now.isoformat(), last_error=None)


def raise_alerts(
    folder: Path,
    events: Sequence[AlertEvent] | Callable[[Ledger], Sequence[AlertEvent]],
    config: AlertConfig,
    now: datetime | None = None,
) -> AlertOutcome:
    """Record `events` (or those a function finds given the ledger, e.g. since it started) and deliver
    everything pending, all under the ledger's lock so that two processes never send the same event."""
    now = now or _now()
    outcome = AlertOutcome()
    with open_ledger(folder, now) as ledger:
        found = events(ledger) if callable(events) else events
        outcome.new = record(ledger, found, config.channels, now)
        deliver(ledger, config, now, outcome)
        outcome.pending = sum(len(ledger.pending(c)) for c in config.channels)
    return outcome
