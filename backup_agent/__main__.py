"""``python -m backup_agent``: the same entry point as the ``backup-agent`` script."""

import sys

from backup_agent.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
