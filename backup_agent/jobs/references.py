"""References between configuration objects, in every shape a node answers them.

A reference is a resource URI (``system_location``), a nested object with its
``resource_uri`` (``ivr_theme``: ``{"id", "name", "resource_uri"}``), or a list of either
(``scheduled_conferences``). The export names each one (a bare URI becomes ``{"id",
"name", "resource_uri"}`` when the object has a name), because a URI means nothing on another
node: the import relinks by that name, one rule for every shape.

The rule: a reference is relinked to the target's object of the same resource and name;
one without a name (an export made before names were kept) only to the same URI; anything
else is dropped, and every drop is reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CONFIG_PREFIX = "/api/admin/configuration/v1/"
SELF = "resource_uri"  # an object's own URI: not a reference to another


def is_uri(value: Any) -> bool:
    """A configuration resource URI."""
    return isinstance(value, str) and value.startswith(CONFIG_PREFIX)


def ref_uri(value: Any) -> str | None:
    """The URI a single reference points to (a URI, or a nested object's ``resource_uri``)."""
    if is_uri(value):
        return str(value)
    if isinstance(value, dict) and is_uri(value.get("resource_uri")):
        return str(value["resource_uri"])
    return None


def is_ref(value: Any) -> bool:
    """A reference in any shape: a URI, a nested object, or a non-empty list of them."""
    kind = type(value)
    if kind is str:  # the common case first: most fields are plain text, numbers or flags
        return bool(value.startswith(CONFIG_PREFIX))
    if kind is not dict and kind is not list:
        return False
    if isinstance(value, list):
        return bool(value) and all(ref_uri(v) is not None for v in value)
    return ref_uri(value) is not None


def resource_of(uri: str) -> str:
    """``system_location`` for ``/api/admin/configuration/v1/system_location/3/``."""
    return uri[len(CONFIG_PREFIX):].split("/", 1)[0]


def items(value: Any) -> list[Any]:
    """The single references of a field's value (one, or each of a list)."""
    return list(value) if isinstance(value, list) else [value]


def _fields(obj: dict[str, Any], skip: frozenset[str],
            only: frozenset[str] | None) -> Iterable[tuple[str, Any]]:
    """The fields that may hold references: ``only`` those when the schema names them."""
    if only is not None:
        return ((k, obj[k]) for k in only if k in obj and k not in skip)
    return ((k, v) for k, v in obj.items() if k not in skip and k != SELF)


def resources(objects: Iterable[dict[str, Any]], skip: frozenset[str],
              only: frozenset[str] | None = None) -> set[str]:
    """The resources the references of ``objects`` point into (fields in ``skip`` aside;
    ``only`` the fields a schema says are related, when it says)."""
    out = set()
    for obj in objects:
        for _, value in _fields(obj, skip, only):
            if is_ref(value):
                out |= {resource_of(str(ref_uri(v))) for v in items(value)}
    return out


def label(ref: Any) -> str:
    """How a reference is reported: its name, else its URI."""
    if isinstance(ref, dict) and ref.get("name"):
        return str(ref["name"])
    return str(ref_uri(ref) or ref)


def name(obj: dict[str, Any], names: dict[str, str], skip: frozenset[str],
         only: frozenset[str] | None = None) -> None:
    """In place: every bare-URI reference of ``obj`` whose object has a known name becomes a
    nested ``{"id", "name", "resource_uri"}``; nested ones are kept as they are."""
    for key, value in list(_fields(obj, skip, only)):
        if not is_ref(value):
            continue
        named = [_named(v, names) for v in items(value)]
        obj[key] = named if isinstance(value, list) else named[0]


def _named(ref: Any, names: dict[str, str]) -> Any:
    if not is_uri(ref) or ref not in names:
        return ref
    tail = ref.rstrip("/").rsplit("/", 1)[-1]
    return {"id": int(tail) if tail.isdigit() else tail, "name": names[ref], "resource_uri": ref}


class Index:
    """What a node has, to relink to: per resource, name -> URI, and every URI."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, str]] = {}
        self.uris: set[str] = set()

    def add(self, resource: str, objects: Iterable[dict[str, Any]]) -> None:
        """Index the objects of one resource as listed by the node."""
        names = self.by_name.setdefault(resource, {})
        for obj in objects:
            uri = obj.get("resource_uri")
            if not is_uri(uri):
                continue
            self.uris.add(str(uri))
            if obj.get("name") is not None:
                names.setdefault(str(obj["name"]), str(uri))

    def find(self, ref: Any) -> str | None:
        """The node's URI for ``ref`` by the one rule, or None."""
        uri = ref_uri(ref)
        if uri is None:
            return None
        if isinstance(ref, dict) and ref.get("name") is not None:
            return self.by_name.get(resource_of(uri), {}).get(str(ref["name"]))
        return uri if uri in self.uris else None

    def relink(self, value: Any) -> tuple[Any, list[str]]:
        """``value`` as the node's URI(s) to write, and the labels of what was dropped."""
        found = [(self.find(v), v) for v in items(value)]
        dropped = [label(v) for uri, v in found if uri is None]
        if isinstance(value, list):
            return [uri for uri, _ in found if uri is not None], dropped
        return found[0][0], dropped

    def key(self, ref: Any) -> str:
        """What a reference is compared by: resource and name (else its URI)."""
        uri = ref_uri(ref) or ""
        if isinstance(ref, dict) and ref.get("name") is not None:
            return f"{resource_of(uri)}:{ref['name']}"
        return uri
