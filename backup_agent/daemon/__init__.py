"""The agent as a service: ``backup-agent run``.

``settings`` (the ``[daemon]``, ``[alerts]`` and schedule tables, environment overrides),
``scheduler`` (APScheduler, locks, signals, reload), ``runs`` (one run, triggers),
``jobs`` (the one adapter to the jobs), ``http`` (/healthz, /readyz, /metrics), ``metrics``
and ``alerts``. Importing this package imports none of them, so reading agent.toml does not
pay for APScheduler or apprise.
"""
