"""The heap of a long-running process (``optout serve``, its worker): what start-up loaded is
set aside from the garbage collector.

A full collection walks every tracked object; after start-up that is ~140,000 (the recogniser's
tables, FastAPI's and SQLAlchemy's models, the catalogues), which took 50–75 ms on the benchmark
machine, every two seconds under load: the p99 of GET /v1/check on PostgreSQL was 50–80 ms with
them and 4–5 ms without. Those objects live as long as the process, so collecting them finds
nothing; ``gc.freeze`` moves them to a generation the collector skips (the method CPython's
documentation gives for forking servers, and what Instagram's did for the same stalls).
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect start-up's garbage once, then freeze what is left."""
    gc.collect()
    gc.freeze()
