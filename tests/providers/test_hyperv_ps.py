"""The PowerShell side of the Hyper-V provider: quoting, encoding, reading answers, errors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from providers import hyperv_ps as ps
from providers.base import AuthFailed, InUse, NotFound, ProviderConfigError, ProviderTimeout, TaskFailed
from providers.hyperv import name_with_tags, split_name
from tests.peers.hyperv.fake_powershell import tokenize


@pytest.mark.parametrize(("value", "expected"), [
    ("mgr01", "'mgr01'"),
    ("it's", "'it''s'"),
    ("a\u2019b\u2018c\u201ad\u201be", "'a\u2019\u2019b\u2018\u2018c\u201a\u201ad\u201b\u201be'"),
    ("$(x); `y` \"z\"", "'$(x); `y` \"z\"'"),
])
def test_literal_doubles_every_single_quote(value: str, expected: str) -> None:
    assert ps.literal(value) == expected


@given(st.text())
def test_literal_round_trips_through_a_powershell_lexer(value: str) -> None:
    assert tokenize(f"$x = {ps.literal(value)}") == [["$x", "=", value]]


def test_encode_command_carries_only_base64() -> None:
    cmd = ps.encode_command("powershell", "Get-VM\n")
    exe, no_profile, non_interactive, flag, payload = cmd.split(" ")
    assert (exe, no_profile, non_interactive, flag) == (
        "powershell", "-NoProfile", "-NonInteractive", "-EncodedCommand")
    assert base64.b64decode(payload).decode("utf-16-le") == ps.PRELUDE + "Get-VM\n"
    with pytest.raises(ProviderConfigError):
        ps.encode_command("pwsh & calc", "Get-VM\n")


def test_parse_json_list_follows_convertto_json() -> None:
    assert ps.parse_json_list("") == []
    assert ps.parse_json_list('{"Id":"a"}\n') == [{"Id": "a"}]
    assert ps.parse_json_list('[{"Id":"a"},{"Id":"b"}]') == [{"Id": "a"}, {"Id": "b"}]
    with pytest.raises(TaskFailed, match="not JSON"):
        ps.parse_json_list("WARNING: something")
    with pytest.raises(TaskFailed, match="unexpected JSON"):
        ps.parse_json_list("[1, 2]")


def test_values_as_51_and_7_write_them() -> None:
    when = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    ms = int(when.timestamp() * 1000)
    assert ps.parse_time(f"/Date({ms})/") == when
    assert ps.parse_time(f"\\/Date({ms})\\/") == when
    assert ps.parse_time({"value": f"/Date({ms})/", "DateTime": "Thursday..."}) == when
    assert ps.parse_time("2026-11-26T11:00:00+01:00") == when
    assert ps.parse_time("2026-11-26T10:00:00") == when
    with pytest.raises(TaskFailed):
        ps.parse_time("yesterday")
    assert ps.as_text({"Guid": "abc"}) == "abc"
    assert ps.as_text(None) == ""
    assert [ps.checkpoint_type_name(v) for v in (2, 3, "4", 5, "Standard")] == [
        "Disabled", "Production", "ProductionOnly", "Standard", "Standard"]


@pytest.mark.parametrize(("category", "error"), [
    ("ObjectNotFound", NotFound), ("PermissionDenied", AuthFailed), ("OperationTimeout", ProviderTimeout),
    ("InvalidOperation", TaskFailed), ("ResourceBusy", InUse), ("NotSpecified", TaskFailed),
])
def test_map_error_by_category(category: str, error: type[Exception]) -> None:
    err = ps.map_error(1, f"{ps.ERROR_MARK}{category}|Some.Id|it broke", "doing x")
    assert type(err) is error and str(err).startswith("hyperv: doing x: it broke")


def test_map_error_reads_clixml_and_plain_text() -> None:
    clixml = ('#< CLIXML\r\n<Objs Version="1.1.0.1"><S S="Error">'
              f"{ps.ERROR_MARK}ObjectNotFound|X|no such thing_x000D__x000A_</S></Objs>")
    assert isinstance(ps.map_error(1, clixml, "reading"), NotFound)
    assert isinstance(ps.map_error(127, "sh: 1: powershell: not found\n", "reading"), ProviderConfigError)
    plain = ps.map_error(1, "\nsomething odd happened\n", "reading")
    assert isinstance(plain, TaskFailed) and "something odd happened" in str(plain)
    module = ps.map_error(1, f"{ps.ERROR_MARK}ObjectNotFound|CommandNotFoundException|no Get-VM", "x")
    assert isinstance(module, TaskFailed) and "Hyper-V PowerShell module" in str(module)


@given(st.text(min_size=1), st.dictionaries(st.text(min_size=1), st.text()))
def test_tags_round_trip_through_the_checkpoint_name(name: str, tags: dict[str, str]) -> None:
    assume(split_name(name) == (name, {}))  # a given name that itself ends like a tag suffix
    assert split_name(name_with_tags(name, tags)) == (name, tags)


def test_names_without_tags() -> None:
    assert split_name("Before patch [x]") == ("Before patch [x]", {})
    assert split_name("mgr01 - (11/26/2026 - 10:00:00)") == ("mgr01 - (11/26/2026 - 10:00:00)", {})
    assert name_with_tags("n", {"backup-agent": "true", "a": "x y"}) == "n [ba:a=x%20y&backup-agent=true]"


def test_split_sections() -> None:
    assert ps.split_sections('\ufeff{"Id":"a"}\n--\n[{"Id":"b"}]\n') == ['{"Id":"a"}', '[{"Id":"b"}]']
    assert ps.split_sections("--\n") == ["", ""]
    assert ps.split_sections("") == [""]
