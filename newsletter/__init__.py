"""newsletter: a monthly, branded email that makes the IT team's quiet work visible."""

__version__ = "0.1.0"
