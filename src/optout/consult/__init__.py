"""Consult: what the list says (lookups, filter, stats) and the export for sending systems."""
