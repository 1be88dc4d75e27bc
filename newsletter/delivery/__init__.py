"""Delivery: the message, the ledger loop, and the transports (outbox, smtp)."""
