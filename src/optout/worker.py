"""The listener's worker process: recognition, DKIM and the database writes, off the event loop.

The SMTP process only speaks SMTP; it hands each group of messages to this process and waits
for the committed outcomes. Recognition is pure Python, so a thread would share the event
loop's interpreter lock; a process uses the machine's other core.
"""

from __future__ import annotations

from typing import Any

_state: dict[str, Any] = {}


def start(settings_data: dict[str, Any]) -> None:
    """Pool initializer: one engine, DKIM verifier and policy for the life of the process."""
    from optout import db, trust
    from optout.config import Settings

    cfg = Settings(**settings_data)
    _watch_parent()
    _state["engine"] = db.engine(cfg, check_schema=False)
    _state["verifier"] = trust.Verifier(cfg)
    _state["policy"] = trust.policy(cfg)


def process(messages: list[tuple[bytes, int, str | None, str | None, str | None]]) -> list[dict[str, Any]]:
    """Recognise and commit a group of (raw, account ID, MAIL FROM, RCPT, peer) in one transaction."""
    from optout import ingest
    from optout.parse import parse

    verdicts: dict[bytes, tuple[Any, Any]] = {}  # one parse for a message sent to several accounts
    items = []
    for raw, account_id, mail_from, rcpt, peer in messages:
        if raw not in verdicts:
            result = parse(raw)
            verdicts[raw] = (result, _state["verifier"].check(result))
        result, dkim = verdicts[raw]
        inbound = ingest.Inbound(raw=raw, account_id=account_id, mail_from=mail_from, rcpt=rcpt, peer=peer)
        items.append(ingest.Item(inbound, result, dkim))
    with _state["engine"].begin() as conn:
        outcomes = ingest.apply_many(conn, items=items, policy=_state["policy"])
    return [{"outcome": o.outcome, "reason": o.reason, "kind": i.result.kind, "order_id": i.result.order_id,
             "dkim": i.dkim[0]} for i, o in zip(items, outcomes)]


def ping() -> bool:
    """Called once at start-up so the worker is running (and connected) before we listen."""
    return "engine" in _state


def _watch_parent() -> None:
    """Exit when the listener dies, even by SIGKILL, instead of lingering with the database open."""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
