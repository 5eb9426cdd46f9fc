"""The docs' screenshots of the console (docs/console/*.png), from a real daemon.

    python3 bench/console_screenshots.py [--out docs/console]

Two simulators, three deployments (``prod-eu`` and ``lab`` on one, ``prod-us`` on the other),
``backup-agent run`` with an operator token; each deployment backed up and exported through
the API, a checkpoint of ``prod-eu``, then ``prod-us``'s Management Node stopped until the
watch sees it down (its card runs the autonomy clock). Debian's chromium, headless
(tests/web/browserkit.py), takes: the sign-in page, the index, ``prod-us``'s page, and the
index at a phone's width. Needs tests/peers/install-chromium.sh; not run by the tests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backup_agent.sim import SimOptions, Simulator  # noqa: E402
from tests.daemon.conftest import Daemon  # noqa: E402
from tests.web.apikit import OPERATOR, Web, token_tables  # noqa: E402
from tests.web.browserkit import PHONE, browser, sign_in  # noqa: E402

PASSWORD = "shot-admin-pw"  # the simulators' lab credential, not a secret


def write_config(tmp: Path, urls: dict[str, str]) -> Path:
    (tmp / "pw").write_text(PASSWORD)
    (tmp / "pp").write_text("screenshot-passphrase-long")
    lines = [f'[storage]\npath = "{tmp / "var"}"\n',
             '[daemon]\nlisten = "127.0.0.1:0"\ngrace_seconds = 2\n', token_tables(tmp), ""]
    for name, url in urls.items():
        lines += ["[[deployments]]", f'name = "{name}"', f'url = "{url}"',
                  f'password_file = "{tmp / "pw"}"', f'passphrase_file = "{tmp / "pp"}"',
                  "retries = 0", "timeout = 2", "[deployments.schedule]", 'watch = "@every 2s"',
                  *(f'{job} = "off"' for job in ("backup", "export", "retention", "verify", "audit")), ""]
    cfg = tmp / "agent.toml"
    cfg.write_text("\n".join(lines))
    return cfg


def finished(web: Web, name: str, run_id: str) -> bool:
    answer = web.get(f"/api/v1/runs/{run_id}")
    return answer.status == 200 and answer.json().get("outcome") is not None


def run(web: Web, name: str, job: str) -> None:
    answer = web.post_json(f"/api/v1/deployments/{name}/{job}")
    assert answer.status == 202, answer.text
    run_id = answer.json()["run_id"]
    deadline = time.monotonic() + 120
    while not finished(web, name, run_id):
        assert time.monotonic() < deadline, f"{job} of {name} did not finish"
        time.sleep(0.3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "console"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    opts = {"rooms": 40, "conferencing_nodes": 3, "password": PASSWORD, "backup_request_seconds": 0.05}
    with Simulator(SimOptions(**opts)) as eu, Simulator(SimOptions(**opts, seed=2)) as us, \
            tempfile.TemporaryDirectory(prefix="console-shots-") as tmp_name:
        tmp = Path(tmp_name)
        cfg = write_config(tmp, {"prod-eu": eu.url, "prod-us": us.url, "lab": eu.url})
        daemon = Daemon(cfg).wait_listening()
        web = Web(daemon)
        try:
            for name in ("prod-eu", "prod-us", "lab"):
                run(web, name, "backup")
                run(web, name, "export")
            run(web, "prod-eu", "checkpoint")
            us.state.set_management_down()
            time.sleep(6)  # a few watch runs find it down
            base = f"http://127.0.0.1:{daemon.port}"
            with browser({"width": 1280, "height": 1600}) as ctx:
                page = ctx.new_page()
                page.set_viewport_size({"width": 1280, "height": 480})
                page.goto(f"{base}/signin")
                page.screenshot(path=str(out / "signin.png"))
                page.set_viewport_size({"width": 1280, "height": 1600})
                sign_in(page, base, OPERATOR)
                page.screenshot(path=str(out / "index.png"))
                page.goto(f"{base}/deployments/prod-us")
                page.screenshot(path=str(out / "deployment.png"))
            with browser(PHONE) as ctx:
                page = ctx.new_page()
                sign_in(page, base, OPERATOR)
                page.screenshot(path=str(out / "phone.png"))
        finally:
            daemon.stop()
    print(f"screenshots in {out}: signin.png index.png deployment.png phone.png")


if __name__ == "__main__":
    main()
