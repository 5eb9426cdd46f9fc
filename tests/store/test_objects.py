"""The one line an object store's failed call becomes: the verb said whole."""

from __future__ import annotations

import pytest

from backup_agent.errors import StoreUnavailable
from backup_agent.store.objects import failure


@pytest.mark.parametrize(("doing", "said"), [("reading", "read"), ("writing", "write"),
                                             ("deleting", "delete"), ("listing", "list")])
def test_the_verb_is_said_whole(doing: str, said: str) -> None:
    """"cannot writ" and "cannot delet" were what users read."""
    err = failure("gcs", "bucket 'b'", doing, "prod/x", "HTTP 500", gone=False, denied=None)
    assert str(err) == f"gcs: cannot {said} prod/x in bucket 'b': HTTP 500"
    assert not isinstance(err, StoreUnavailable)


def test_gone_and_denied_say_so() -> None:
    gone = failure("azure", "container 'c'", "writing", "k", "x", gone=True, denied=None)
    assert isinstance(gone, StoreUnavailable) and str(gone) == "azure: container 'c' does not exist"
    denied = failure("azure", "container 'c'", "writing", "k", "x", gone=False, denied="403")
    assert "access denied writing k in container 'c' (403)" in str(denied)
