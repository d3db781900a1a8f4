"""The release example's steps, one subcommand each (stdlib only)."""

import json
import os
import re
import shutil
import sys
from pathlib import Path

OUT = Path("dist")


def stamp(version: str) -> None:
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        sys.exit(f"not a version: {version!r} (expected MAJOR.MINOR.PATCH)")
    artifact = f"greeter-{version}.txt"
    with open(os.environ["FLOWRUN_OUTPUT"], "a") as out:  # what later steps read as steps.stamp.outputs.*
        out.write(f"artifact={artifact}\n")
    print(f"version {version}: the artifact is {artifact}")


def build(artifact: str) -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / artifact).write_text("hello from the greeter\n")
    print(f"built {OUT / artifact}")


def test(artifact: str) -> None:
    if os.environ.get("BREAK") == "test":
        sys.exit(f"{artifact}: the test was made to fail (-p break=test)")
    assert (OUT / artifact).read_text().startswith("hello"), artifact
    print(f"{artifact} says hello")


def publish(artifact: str, channel: str) -> None:
    target = OUT / channel
    target.mkdir(exist_ok=True)
    shutil.copy(OUT / artifact, target / artifact)
    print(f"published {artifact} to {channel}")


def report() -> None:
    failed = os.environ["FLOWRUN_FAILED_STEPS"].split()
    print(f"the release did not succeed ({os.environ['FLOWRUN_STATUS']}); failed: {', '.join(failed)}")
    with open(os.environ["FLOWRUN_RESULTS"]) as results:
        for line in results:
            step = json.loads(line)
            print(f"  {step['name']}: {step['status']}")


def clean() -> None:
    for part in OUT.glob("*.txt"):  # the published copies stay
        part.unlink()
    print(f"cleaned up ({os.environ['FLOWRUN_STATUS']})")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"stamp": stamp, "build": build, "test": test, "publish": publish, "report": report, "clean": clean}[command](*args)
