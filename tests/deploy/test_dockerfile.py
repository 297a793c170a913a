"""deploy/docker/Dockerfile, checked without a Docker engine: what it copies and installs, and the
package it installs (built here as the same wheel) runs the `swerve` CLI and the toy world."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    joined, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            joined.append(pending.strip())
            pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in joined]


def package_dirs() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dirs: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return dirs


def test_given_the_dockerfile_then_it_copies_every_package_folder_and_only_paths_that_exist() -> None:
    copies = [args.split() for name, args in instructions() if name == "COPY" and "--from" not in args]
    sources = {source.rstrip("/") for args in copies for source in args[:-1]}
    assert all((ROOT / source).exists() for source in sources), sources
    assert set(package_dirs().values()) <= sources
    assert {"pyproject.toml", "constraints.txt", "README.md"} <= sources


def test_given_the_dockerfile_then_it_installs_with_the_pins_and_runs_swerve_as_the_charts_user() -> None:
    steps = instructions()
    runs = " ".join(args for name, args in steps if name == "RUN")
    assert "-c constraints.txt" in runs
    assert ("USER", "10001") in steps  # deploy/helm/swerve/values.yaml: runAsUser 10001
    assert ("ENTRYPOINT", '["swerve"]') in steps
    assert steps[-1][0] == "CMD" and "worker" in steps[-1][1]


def test_given_the_dockerignore_then_the_local_venv_and_git_stay_out_of_the_build_context() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".swerve"} <= ignored
    assert not ignored & set(package_dirs().values())


@pytest.mark.slow
def test_given_the_wheel_the_image_installs_then_the_cli_and_the_toy_world_run_from_it(tmp_path: Path) -> None:
    # Given: the wheel `pip install .` builds in the image, unpacked (its dependencies are this venv's)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "wheel"), str(ROOT)], check=True, cwd=tmp_path)
    [wheel] = (tmp_path / "wheel").glob("swerve-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    # When: the CLI and one toy-world generation run from it alone
    script = ("import swerve.toyworld as t, torch; torch.set_num_threads(1); "
              "assert t.__file__.startswith(%r), t.__file__; "
              "from swerve.toyworld import generate_batch, load_pipeline, memorized_captions; "
              "[image] = generate_batch(load_pipeline('cpu'), memorized_captions()[:1], [0], 2, 2.0); "
              "print(image.size)") % str(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    generated = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
    cli = subprocess.run([sys.executable, "-m", "swerve.cli.main", "worker", "--help"], env=env, cwd=tmp_path,
                         capture_output=True, text=True)
    # Then
    assert generated.returncode == 0, generated.stderr[-2000:]
    assert generated.stdout.strip() == "(64, 64)"
    assert cli.returncode == 0 and "--role" in cli.stdout, cli.stderr[-2000:]
