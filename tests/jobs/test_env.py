"""The Env: a context manager with typed pools; the agent log belongs to the process."""

from __future__ import annotations

import logging
from pathlib import Path

from backup_agent import config
from backup_agent.infinity import InfinityClient
from backup_agent.jobs.env import Env, log_path
from backup_agent.logsetup import use_file_log
from tests.jobs.conftest import write_config


def test_closing_one_env_does_not_cut_the_log_of_another(tmp_path: Path) -> None:
    """The log handler is the entry point's: an Env closing (a drill's, a daemon tick's) used
    to remove it from the root logger while another Env's job still logged."""
    cfg = config.load(write_config(tmp_path, "http://127.0.0.1:9"))
    use_file_log(log_path(cfg))
    try:
        first, second = Env.open(cfg), Env.open(cfg)
        first.close()
        logging.getLogger("backup_agent.test_env").warning("still logged after one Env closed")
        second.close()
        assert "still logged after one Env closed" in log_path(cfg).read_text()
        use_file_log(log_path(cfg))  # once per path: no second handler, no line written twice
        logging.getLogger("backup_agent.test_env").warning("once")
        assert log_path(cfg).read_text().count("once") == 1
    finally:
        for handler in [h for h in logging.getLogger().handlers if getattr(h, "agent_log", False)]:
            logging.getLogger().removeHandler(handler)
            handler.close()


def test_env_is_a_context_manager_with_one_client_per_deployment(tmp_path: Path) -> None:
    cfg = config.load(write_config(tmp_path, "http://127.0.0.1:9"))
    with Env.open(cfg) as env:
        dep = env.config.deployment()
        client = env.client(dep)
        assert isinstance(client, InfinityClient) and env.client(dep) is client
    assert env.clients.get(dep) is not client  # closed and forgotten with the Env
    env.clients.close()
