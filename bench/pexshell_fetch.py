"""The baselines of the export bench as whole processes: the rooms alone, fetched as a plain
``requests`` client does, for timing side by side with ``backup-agent export``.

    python3 bench/pexshell_fetch.py URL [--in-flight 5] [--page-size 500]

``--in-flight 1`` (the default) is pexshell-style: 500 per page, following ``meta.next`` one
page at a time. ``--in-flight 5``: the first page, then the other offsets 5 at a time. The
password is read from ``$BENCH_PW``; the count of rooms read is printed.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

ROOMS = "/api/admin/configuration/v1/conference/"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--in-flight", type=int, default=1)
    ap.add_argument("--page-size", type=int, default=500)
    args = ap.parse_args()
    session = requests.Session()
    session.auth = ("admin", os.environ["BENCH_PW"])

    def page(path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = session.get(args.url + path, params=params, timeout=60)
        resp.raise_for_status()
        answer: dict[str, Any] = resp.json()
        return answer

    first = page(ROOMS, {"limit": args.page_size, "offset": 0})
    rooms = list(first["objects"])
    if args.in_flight == 1:
        nxt = first["meta"].get("next")
        while nxt:
            answer = page(nxt)
            rooms += answer["objects"]
            nxt = answer["meta"].get("next")
    else:
        offsets = range(args.page_size, first["meta"]["total_count"], args.page_size)
        with ThreadPoolExecutor(args.in_flight) as pool:
            for answer in pool.map(lambda o: page(ROOMS, {"limit": args.page_size, "offset": o}),
                                   offsets):
                rooms += answer["objects"]
    print(len(rooms))


if __name__ == "__main__":
    main()
