"""Delivery: recipients, per-person fields, the message, the ledger loop, and the transports: base.py (the
contract and its outcomes), registry.py (the `newsletter.transports` group), outbox.py, smtp.py, graph.py."""
