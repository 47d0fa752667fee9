"""The HTTP side: lookups for sending tools, health and metrics for operators (FastAPI on
uvicorn, in the same process as the SMTP listener under ``optout serve``)."""
