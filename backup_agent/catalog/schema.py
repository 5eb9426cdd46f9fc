"""The SQLite catalog's schema: named migrations, applied in order and recorded in ``migrations``.

A migration is never edited once released: a catalog.db made by an older agent is brought up
to date by the ones it lacks (tests/test_catalog.py opens one made from the first two).
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    ("0001_initial", """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, deployment TEXT NOT NULL, job TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT, outcome TEXT, summary TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE run_items (
            run_id TEXT NOT NULL REFERENCES runs(id), item TEXT NOT NULL, outcome TEXT NOT NULL,
            reason TEXT, PRIMARY KEY (run_id, item)
        );
        CREATE TABLE restore_points (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, deployment TEXT NOT NULL,
            taken_at TEXT NOT NULL, version TEXT, build TEXT, node TEXT, provider TEXT,
            verified INTEGER NOT NULL DEFAULT 0, run_id TEXT, data TEXT NOT NULL DEFAULT '{}',
            deleted_at TEXT
        );
        CREATE INDEX restore_points_by_kind ON restore_points (deployment, kind, taken_at);
        CREATE TABLE files (
            restore_point_id TEXT NOT NULL REFERENCES restore_points(id), name TEXT NOT NULL,
            path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
            PRIMARY KEY (restore_point_id, name)
        );
        CREATE TABLE contacts (
            deployment TEXT PRIMARY KEY, last_contact TEXT, last_error TEXT, last_error_at TEXT
        );
    """),
    # The restore journal: one row per restore, one per step.
    ("0002_restore_journal", """
        CREATE TABLE restores (
            id TEXT PRIMARY KEY, deployment TEXT NOT NULL, path_number INTEGER NOT NULL,
            kind TEXT NOT NULL, target TEXT NOT NULL, restore_point TEXT,
            started_at TEXT NOT NULL, finished_at TEXT, state TEXT NOT NULL,
            path TEXT NOT NULL, options TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE restore_steps (
            restore_id TEXT NOT NULL REFERENCES restores(id), step INTEGER NOT NULL,
            title TEXT NOT NULL, action TEXT NOT NULL, automated INTEGER NOT NULL,
            state TEXT NOT NULL, started_at TEXT, finished_at TEXT, detail TEXT,
            PRIMARY KEY (restore_id, step)
        );
        CREATE INDEX restores_by_deployment ON restores (deployment, started_at);
    """),
    # Restore point ids are reserved here before their files are written: the primary key
    # decides between two processes asking in the same second (check-then-insert did not).
    # The ids already in use are reserved, so none is handed out again.
    ("0003_restore_point_ids", """
        CREATE TABLE restore_point_ids (id TEXT PRIMARY KEY, reserved_at TEXT NOT NULL);
        INSERT INTO restore_point_ids (id, reserved_at) SELECT id, taken_at FROM restore_points;
    """),
    # Off-site copies: one row per file (and manifest) of a restore point in each copy store.
    ("0004_offsite_copies", """
        CREATE TABLE copies (
            restore_point_id TEXT NOT NULL REFERENCES restore_points(id), store TEXT NOT NULL,
            name TEXT NOT NULL, key TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
            source_sha256 TEXT NOT NULL, encrypted INTEGER NOT NULL, copied_at TEXT NOT NULL,
            verified INTEGER, checked_at TEXT,
            PRIMARY KEY (restore_point_id, store, name)
        );
        CREATE INDEX copies_by_store ON copies (store, restore_point_id);
    """),
    # Reads newest first (list, status, evidence) by an index instead of a sort of every
    # restore point; the files of many points in one join by their primary key.
    ("0005_restore_point_read_indexes", """
        CREATE INDEX restore_points_newest ON restore_points (taken_at DESC, id DESC)
            WHERE deleted_at IS NULL;
        CREATE INDEX restore_points_newest_by_deployment
            ON restore_points (deployment, taken_at DESC, id DESC) WHERE deleted_at IS NULL;
    """),
    # Runs read newest first per deployment (status: the last 100; the daemon: the last of a
    # job) by an index, not a sort of every run: the watch job writes 105,120 a year each.
    # The newest point of a kind (status, each job's previous) without scanning the others.
    ("0006_run_read_indexes", """
        CREATE INDEX runs_newest_by_deployment ON runs (deployment, started_at DESC);
        CREATE INDEX runs_newest_by_job ON runs (deployment, job, started_at DESC);
        CREATE INDEX restore_points_newest_by_kind
            ON restore_points (deployment, kind, taken_at DESC, id DESC) WHERE deleted_at IS NULL;
    """),
    # Which passphrase each config backup needs is recorded by reference with a fingerprint
    # keyed by this catalog's random salt (never the passphrase): made once, here.
    ("0007_backup_passphrase_ref", """
        CREATE TABLE catalog_keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO catalog_keys (name, value) VALUES ('passphrase_salt', lower(hex(randomblob(32))));
    """),
    # Who started each run: "cli:USER", "schedule", "token:NAME" (catalog/actor.py). The reads
    # the web API's status makes for every deployment are 0006's indexes.
    ("0008_run_actor", """
        ALTER TABLE runs ADD COLUMN actor TEXT;
    """),
]
