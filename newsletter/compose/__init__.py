"""Composing: stored results -> template context -> subject, HTML and plain text."""
