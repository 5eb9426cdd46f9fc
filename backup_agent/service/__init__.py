"""The service layer: what the CLI, the daemon and the console all call.

Per-deployment fan-out with each deployment's outcome, status assembly, verify and evidence
live here, above the jobs and below every front end; nothing in here knows which front end
called it, and nothing under ``jobs/`` imports ``cli/``.
"""
