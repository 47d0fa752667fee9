"""The listener's Prometheus metrics. They live in the ``optout serve`` process (the worker
reports what it did with each reply), so the HTTP side's ``/metrics`` serves them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram

MESSAGES = Counter("optout_messages_total", "Messages kept, by outcome, by how the notice came "
                   "(direct, auto-forward, inline-forward, attachment; none if not a notice) and language",
                   ["outcome", "form", "language"])
WORDINGS = Counter("optout_messages_by_wording_total", "Notices recognised, by the wording that recognised them "
                   "(builtin:LANGUAGE, or taught:ID for one the operator taught)", ["wording"])
REPLIES = Counter("optout_smtp_replies_total", "SMTP replies sent, by code", ["code"])
COMMIT_SECONDS = Histogram("optout_commit_seconds", "Time of the group commit that stored each message",
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
HANDOFF_SECONDS = Histogram("optout_message_seconds", "From the end of DATA to the committed outcome",
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
WORKER_RESTARTS = Counter("optout_worker_restarts_total", "Worker processes started after the first")
WORKER_TIMEOUTS = Counter("optout_worker_timeouts_total", "Workers killed for leaving a message unanswered")
RECOGNITION_TIMEOUTS = Counter("optout_recognition_timeouts_total",
                               "Messages whose recognition ran past recognition_timeout (kept in quarantine)")
if TYPE_CHECKING:
    from optout.listener.protocol import Outcome

DEFERRED = Counter("optout_messages_deferred_total", "Messages answered 451 because they could not be stored")


def count(outcomes: tuple[Outcome, ...]) -> None:
    """Count what the worker did with one message (one outcome per account it was sent to)."""
    for done in outcomes:
        MESSAGES.labels(done.outcome, done.how or "none", done.language or "none").inc()
        if done.wording:
            WORDINGS.labels(done.wording).inc()
        if done.commit_s is not None:
            COMMIT_SECONDS.observe(done.commit_s)
        if done.late:
            RECOGNITION_TIMEOUTS.inc()


_REPLY_BY_CODE: dict[str, Any] = {}  # the labelled child per code: labels() costs a lock and a lookup


def reply(code: str) -> None:
    child = _REPLY_BY_CODE.get(code)
    if child is None:
        child = _REPLY_BY_CODE[code] = REPLIES.labels(code)
    child.inc()
