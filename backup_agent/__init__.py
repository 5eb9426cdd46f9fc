"""backup-agent: keeps Pexip Infinity deployments recoverable."""

__version__ = "0.1.0"
