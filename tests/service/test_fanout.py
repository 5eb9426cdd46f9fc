"""The service layer: jobs by name over deployments, each one's outcome as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_agent import config
from backup_agent.errors import ConfigError, Hint, UsageError
from backup_agent.jobs.env import Env
from backup_agent.service import fanout
from backup_agent.service.evidence import build_evidence
from backup_agent.sim import Simulator
from tests.jobs.conftest import PASSPHRASE, PASSWORD
from tests.jobs.test_all import two_deployments


def test_each_deployment_outcome_is_data_and_one_error_does_not_stop_the_others(
        tmp_path: Path, sim: Simulator) -> None:
    with Env.open(config.load(two_deployments(tmp_path, sim.url))) as env:
        a, b = fanout.run_each(env, env.config.deployments,
                               lambda env, dep: fanout.run_job(env, dep, "backup"))
    assert a.deployment == "a" and isinstance(a.error, ConfigError) and a.run is None
    assert a.exit_code == 2 and a.to_dict()["error"] == str(a.error)
    assert b.run is not None and b.run.outcome == "completed" and b.exit_code == 0
    assert fanout.combined_exit_code([a.exit_code, b.exit_code]) == 3
    assert PASSWORD not in str(a.to_dict()) and PASSPHRASE not in str(b.to_dict())


def test_jobs_by_name(tmp_path: Path, sim: Simulator) -> None:
    from tests.jobs.conftest import write_config

    with Env.open(config.load(write_config(tmp_path, sim.url))) as env:
        dep = env.config.deployment()
        run = fanout.run_job(env, dep, "export")
        assert (run.job, run.outcome) == ("export", "completed")
        with pytest.raises(UsageError, match="no job named 'restore'"):
            fanout.run_job(env, dep, "restore")


def test_a_hint_is_a_flag_for_the_cli_and_a_config_key_for_a_daemon() -> None:
    err = ConfigError("no passphrase to encrypt the backup with",
                      hint=Hint(flag="--passphrase-file FILE", config_key="deployments.prod.passphrase_file"))
    assert err.for_cli() == "no passphrase to encrypt the backup with: pass --passphrase-file FILE"
    assert err.for_daemon() == ("no passphrase to encrypt the backup with: "
                                "set deployments.prod.passphrase_file")
    assert fanout.Outcome("prod", error=err).to_dict()["hint"] == {
        "flag": "--passphrase-file FILE", "config_key": "deployments.prod.passphrase_file"}
    assert UsageError("plain").for_daemon() == "plain"


def test_evidence_from_the_service_layer_names_no_flag(tmp_path: Path) -> None:
    """A deployment never reached: the error says what is missing in words; the flag is a hint
    the CLI shows ("pass --down-since TIME"), a daemon would not."""
    from tests.jobs.conftest import write_config

    with Env.open(config.load(write_config(tmp_path, "http://127.0.0.1:9", retries=0))) as env, \
            pytest.raises(UsageError) as caught:
        build_evidence(env, None, ["management"], None)
    assert "--" not in str(caught.value) and "never reached" in str(caught.value)
    assert caught.value.hint == Hint(flag="--down-since TIME")
