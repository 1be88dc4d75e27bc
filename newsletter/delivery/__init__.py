"""Delivery: recipients, per-person fields, the message, the ledger loop, and the transports (outbox, smtp, graph)."""
