"""The ``backup-agent`` command line: one small module per command.

Each module here that defines ``register(subparsers)`` is a command; ``main`` discovers them,
so a new command is a new file. ``main.main`` is the only place errors become exit codes.
"""
