"""Listen: the SMTP listener and its worker process (recognition, DKIM and group commit off the event loop)."""
