"""Jobs: backup, export, inventory, verify (later checkpoint, watch, retention).

A job takes an :class:`~backup_agent.jobs.env.Env` (config, catalog, store, clock), talks to
the Management Node through the client and to providers, writes through the store, records
in the catalog, and returns a :class:`~backup_agent.catalog.Run` whose outcome comes from its
per-item results.
"""

#: What ``drill`` can rehearse; here so that the CLI can offer them without importing the jobs.
DRILL_SCENARIOS = ("management-lost", "nodes-lost", "site-lost")
#: The gates of a checkpoint, in the order judged (``--waive NAME``): see checkpoint_gates.py.
CHECKPOINT_GATES = ("api", "nodes", "alarms", "upgrade", "licence", "storage", "providers")
