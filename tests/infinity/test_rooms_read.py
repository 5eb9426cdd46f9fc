"""How the export reads the rooms: aliases from the conferences that nest them, the same rooms
as the separate ``conference_alias`` listing gave, with fewer requests."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backup_agent.jobs import export
from backup_agent.jobs.export import CONFIG, assemble, nested_aliases, read_rooms, room_line


def test_nested_aliases_give_the_rooms_the_alias_listing_gave(sim_factory: Any,
                                                               make_client: Any) -> None:
    sim = sim_factory(rooms=120, aliases_per_room=3, max_page_size=50)
    client = make_client(sim.url)
    rooms = [room_line(r) for r in read_rooms(client)]
    assert not [p for p in sim.state.requests_by_path if "conference_alias" in p], \
        "the aliases come nested: no conference_alias listing"
    listed = assemble(client.list_all(CONFIG + "conference/"),
                      client.list_all(CONFIG + "conference_alias/"),
                      client.list_all(CONFIG + "automatic_participant/"))
    export._name_references(client, listed)
    assert rooms == [room_line(r) for r in listed], "byte for byte what the listing gave"
    assert sum(len(r["aliases"]) for r in listed) == sim.state.alias_count


def test_conferences_that_do_not_nest_aliases_fall_back_to_the_listing() -> None:
    uri = "/api/admin/configuration/v1/conference/7/"
    assert nested_aliases([{"resource_uri": uri, "aliases": ["/api/admin/configuration/v1/"
                                                             "conference_alias/1/"]}]) is None
    assert nested_aliases([{"resource_uri": uri}]) is None
    [alias] = nested_aliases([{"resource_uri": uri, "aliases": [{
        "id": 3, "alias": "a@x", "conference": uri, "description": "", "creation_time": None}]}]) or []
    assert alias["resource_uri"] == "/api/admin/configuration/v1/conference_alias/3/"


def test_the_stream_spools_the_lines_the_list_gave(sim_factory: Any, make_client: Any) -> None:
    """Page by page, as they arrive, the same lines in the same order, and CSV rows too."""
    from backup_agent.jobs.export_stream import stream_rooms

    sim = sim_factory(rooms=300, aliases_per_room=2, max_page_size=40)
    client = make_client(sim.url)
    listed = read_rooms(client)
    spooled = stream_rooms(client)
    assert spooled is not None
    try:
        chunks = list(spooled.in_order())
    finally:
        spooled.close()
    assert [line for lines, _, _ in chunks for line in lines] == [room_line(r) for r in listed]
    assert [row for _, rows, _ in chunks for row in rows] == [export.csv_rows(r) for r in listed]
    assert sum(e.aliases for _, _, part in chunks for e in part) == sim.state.alias_count


def test_csv_rows_are_one_per_alias_with_the_rooms_cells() -> None:
    import csv
    import io

    room = {"name": 'R, "1"', "service_type": "conference", "pin": None, "allow_guests": True,
            "ivr_theme": {"name": "Theme"}, "participant_limit": 5,
            "aliases": [{"alias": "a@x", "description": "first"}, {"alias": "b@x", "description": None}]}
    rows = list(csv.DictReader(io.StringIO((export.csv_header() + export.csv_rows(room)).decode())))
    assert [(r["alias_alias"], r["alias_description"]) for r in rows] == [("a@x", "first"), ("b@x", "")]
    assert {(r["name"], r["pin"], r["allow_guests"], r["ivr_theme_name"], r["participant_limit"])
            for r in rows} == {('R, "1"', "", "True", "Theme", "5")}
    assert export.csv_rows({**room, "service_type": "two_stage_dialing"}) == b""


CELL = st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('a ,"\n\r\té'))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(export.CSV_COLUMNS), CELL),
       st.lists(st.fixed_dictionaries({}, optional={"alias": CELL, "description": CELL}), max_size=3))
def test_csv_rows_are_the_rows_csv_writes_whole(cells: dict[str, Any], aliases: list[dict[str, Any]]) -> None:
    """Each row is formatted in three parts around the alias's cells: the bytes are those of
    csv.writer given each whole row (empty cells, quotes, commas and newlines among them)."""
    import csv
    import io

    room = {**cells, "service_type": "conference", "aliases": aliases}
    whole = io.StringIO()
    writer = csv.writer(whole, lineterminator="\n")
    for alias in aliases or [{}]:
        row = {**cells, "alias_alias": alias.get("alias", ""),
               "alias_description": alias.get("description", ""), "ivr_theme_name": ""}
        writer.writerow(["" if row.get(c) is None else str(row[c]) for c in export.CSV_COLUMNS])
    assert export.csv_rows(room) == whole.getvalue().encode()
