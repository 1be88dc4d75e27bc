"""Collectors: one module per system, all registered through the `newsletter.collectors` entry points."""
