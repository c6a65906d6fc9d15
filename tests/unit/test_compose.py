"""docker-compose.yml stays valid Compose and keeps what operators rely on.

No Docker needed: the file is validated against the Compose Specification schema that
check-jsonschema vendors, then read with PyYAML for the rules the schema cannot know
(pinned images, health checks behind `service_healthy`, the search attributes the workflows
set). The search-attribute registration script runs here against a stub `temporal` CLI."""

from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from workflows.search_attributes import ALL, cli_flags

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
REGISTER_SCRIPT = ROOT / "deploy" / "temporal" / "register-search-attributes.sh"
DB_INIT_SCRIPT = ROOT / "deploy" / "postgres" / "10-create-databases.sh"

ONE_SHOT = "temporal-search-attributes"
SERVICES = {
    "postgres",
    "temporal",
    ONE_SHOT,
    "temporal-ui",
    "worker",
    "postal-emulator",
    "gateway",
    "codec-server",
}

# check-jsonschema vendors the Compose Specification's JSON Schema.
SCHEMA = ("--builtin-schema", "vendor.compose-spec")

Compose = dict[str, Any]


def load(path: Path = COMPOSE_FILE) -> Compose:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    return data


@pytest.fixture(scope="module")
def compose() -> Compose:
    return load()


# --- helpers -------------------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


def interpolate(value: str, env: Mapping[str, str] | None = None) -> str:
    """Compose's variable substitution, enough for this file: `${X:-default}` and friends."""
    env = env or {}

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = env.get(name, "")
        # `:` in the operator means "unset or empty"; without it, "unset" only.
        present = bool(current) if op and op.startswith(":") else name in env
        if op in (":-", "-"):
            return current if present else arg
        if op in (":?", "?"):
            if not present:
                raise ValueError(f"${{{name}}} is required: {arg}")
            return current
        if op in (":+", "+"):
            return arg if present else ""
        return current

    return _VARIABLE.sub(substitute, value)


def services(compose: Compose) -> dict[str, dict[str, Any]]:
    found = compose.get("services")
    assert isinstance(found, dict), "no services"
    return found


def environment(service: Mapping[str, Any]) -> dict[str, str | None]:
    """A service's environment whichever way it is written (mapping or KEY=VALUE list)."""
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return {str(k): None if v is None else str(v) for k, v in env.items()}
    pairs = (str(item).partition("=") for item in env)
    return {k: (v if sep else None) for k, sep, v in pairs}


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """dependency -> condition; the short (list) form means `service_started`."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def command(service: Mapping[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def image_tag(reference: str) -> str | None:
    """The tag of an image reference (`registry:5000/repo/name:tag@digest`), or None."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def image_problems(compose: Compose) -> list[str]:
    problems = []
    for name, service in services(compose).items():
        image = service.get("image")
        if image is None:
            problems.append(f"{name}: no image (a built one needs `image: name:tag` too)")
            continue
        reference = interpolate(str(image))
        tag = image_tag(reference)
        if "@sha256:" in reference:
            continue  # pinned by digest
        if not tag:
            problems.append(f"{name}: image {reference!r} has no tag")
        elif tag == "latest":
            problems.append(f"{name}: image {reference!r} is not pinned (:latest)")
    return problems


def has_healthcheck(service: Mapping[str, Any]) -> bool:
    check = service.get("healthcheck")
    if not isinstance(check, dict) or check.get("disable") in (True, "true"):
        return False
    test = check.get("test")
    return bool(test) and test != ["NONE"]


def healthcheck_problems(compose: Compose) -> list[str]:
    problems = []
    defined = services(compose)
    for name, service in defined.items():
        for dependency, condition in depends_on(service).items():
            if dependency not in defined:
                problems.append(f"{name} depends on {dependency}, which is not defined")
            elif condition == "service_healthy" and not has_healthcheck(defined[dependency]):
                problems.append(f"{name} waits for {dependency} to be healthy: no healthcheck")
    return problems


def registered_attributes(compose: Compose) -> list[str]:
    """The `Name=Type` pairs the one-shot service passes to the registration script."""
    return [arg for arg in command(services(compose)[ONE_SHOT]) if re.fullmatch(r"\w+=\w+", arg)]


def expected_attributes() -> list[str]:
    flags = cli_flags()
    return flags[1::2]  # ["--search-attribute", "Name=Type", ...]


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *SCHEMA, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- the compose file ----------------------------------------------------------------------


def test_compose_file_is_valid_compose_spec() -> None:
    result = schema_check(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_uses_the_compose_specification_without_obsolete_version(compose: Compose) -> None:
    assert "version" not in compose


def test_every_service_is_there(compose: Compose) -> None:
    missing = SERVICES - set(services(compose))
    assert not missing, f"services missing: {sorted(missing)}"


def test_images_are_pinned(compose: Compose) -> None:
    assert image_problems(compose) == []


def test_admin_tools_match_the_server_version(compose: Compose) -> None:
    defined = services(compose)
    server = image_tag(defined["temporal"]["image"])
    tools = image_tag(defined[ONE_SHOT]["image"])
    assert server and tools
    assert tools == server or tools.startswith(server + "-"), (server, tools)


def test_services_waited_on_as_healthy_have_healthchecks(compose: Compose) -> None:
    assert healthcheck_problems(compose) == []


def test_worker_environment_names_its_dependencies(compose: Compose) -> None:
    defined = services(compose)
    env = environment(defined["worker"])
    required = {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "DATABASE_URL", "POSTAL_URL"}
    assert required | {"WORKER_REF_KEY"} <= set(env)
    # With the shipped defaults, every address points at a service of this file.
    temporal_host = interpolate(env["TEMPORAL_ADDRESS"] or "").rsplit(":", 1)[0]
    database = urlsplit(interpolate(env["DATABASE_URL"] or ""))
    postal = urlsplit(interpolate(env["POSTAL_URL"] or ""))
    assert database.scheme in ("postgresql", "postgres")
    assert database.path == "/appraisal"
    assert {temporal_host, database.hostname, postal.hostname} <= set(defined)


def test_only_the_workers_hold_the_archive_signing_key(compose: Compose) -> None:
    """The key that signs archive seals is a secret of the workers alone (never an environment
    value, never a default); whoever verifies gets the public keys."""
    defined = services(compose)
    worker = defined["worker"]
    assert "archive_signing_key" in (worker.get("secrets") or [])
    assert environment(worker)["ARCHIVE_SIGNING_KEY_FILE"] == "/run/secrets/archive_signing_key"
    source = compose["secrets"]["archive_signing_key"]["file"]
    assert interpolate(source) == "./secrets/archive-signing-key"
    assert "/secrets/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    for name, service in defined.items():
        env = environment(service)
        assert "ARCHIVE_SIGNING_KEY" not in env, name
        if name != "worker":
            assert "archive_signing_key" not in (service.get("secrets") or []), name
            assert "ARCHIVE_SIGNING_KEY_FILE" not in env, name
    assert "ARCHIVE_VERIFY_KEYS" in environment(defined["gateway"])


def test_one_namespace_everywhere(compose: Compose) -> None:
    defined = services(compose)
    namespaces = {
        environment(defined["temporal"])["DEFAULT_NAMESPACE"],
        environment(defined[ONE_SHOT])["TEMPORAL_NAMESPACE"],
        environment(defined["worker"])["TEMPORAL_NAMESPACE"],
        environment(defined["gateway"])["TEMPORAL_NAMESPACE"],
        environment(defined["temporal-ui"])["TEMPORAL_DEFAULT_NAMESPACE"],
    }
    assert len(namespaces) == 1, namespaces


def test_every_search_attribute_is_registered_before_workers_start(compose: Compose) -> None:
    registered = registered_attributes(compose)
    assert sorted(registered) == sorted(expected_attributes())
    assert {key.name for key in ALL} == {pair.split("=")[0] for pair in registered}
    assert depends_on(services(compose)["worker"])[ONE_SHOT] == "service_completed_successfully"


def test_workers_scale_out(compose: Compose) -> None:
    worker = services(compose)["worker"]
    assert int(worker["deploy"]["replicas"]) >= 2
    # A fixed name or a published port would stop `--scale worker=N` from starting replicas.
    assert "container_name" not in worker
    assert not worker.get("ports")


def test_postal_emulator_is_staging_only_and_healthchecked(compose: Compose) -> None:
    emulator = services(compose)["postal-emulator"]
    assert emulator.get("profiles"), "the emulator must not start in production by default"
    assert command(emulator)[:3] == ["python", "-m", "postal_emulator"]
    assert "/healthz" in " ".join(emulator["healthcheck"]["test"])


def gateway_problems(compose: Compose) -> list[str]:
    """The gateway reaches Temporal and PostgreSQL, is published on the port it listens on,
    is health-checked, and the emulator's webhooks go to it signed with the same secret."""
    defined = services(compose)
    gateway, emulator = defined["gateway"], defined["postal-emulator"]
    problems = []
    args = command(gateway)
    if args[:2] != ["appraisal", "gateway"] or "--port" not in args:
        problems.append(f"gateway: command {args} is not `appraisal gateway --port N`")
        return problems
    port = args[args.index("--port") + 1]
    env = environment(gateway)
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "DATABASE_URL", "POSTAL_WEBHOOK_SECRET"):
        if not env.get(name):
            problems.append(f"gateway: {name} is not set")
    hosts = {
        interpolate(env.get("TEMPORAL_ADDRESS") or "").rsplit(":", 1)[0],
        urlsplit(interpolate(env.get("DATABASE_URL") or "")).hostname,
    }
    if not hosts <= set(defined):
        problems.append(f"gateway: {hosts - set(defined)} is no service of this file")
    published = [interpolate(str(p)).rsplit(":", 1)[-1] for p in gateway.get("ports") or []]
    if published != [port]:
        problems.append(f"gateway: publishes {published}, listens on {port}")
    if not has_healthcheck(gateway) or "/healthz" not in " ".join(gateway["healthcheck"]["test"]):
        problems.append("gateway: no /healthz healthcheck")
    for needed in ("postgres", "temporal"):
        if depends_on(gateway).get(needed) != "service_healthy":
            problems.append(f"gateway: does not wait for {needed} to be healthy")
    emulator_args = command(emulator)
    hook = (
        urlsplit(emulator_args[emulator_args.index("--webhook-url") + 1])
        if "--webhook-url" in emulator_args
        else None
    )
    if hook is None or (hook.hostname, str(hook.port), hook.path) != (
        "gateway",
        port,
        "/v1/postal/webhooks",
    ):
        problems.append("postal-emulator: webhooks do not go to the gateway's /v1/postal/webhooks")
    if environment(emulator).get("POSTAL_WEBHOOK_SECRET") != env.get("POSTAL_WEBHOOK_SECRET"):
        problems.append("postal-emulator: signs with another secret than the gateway checks")
    return problems


def test_gateway_is_wired_to_its_services_and_the_courier(compose: Compose) -> None:
    assert gateway_problems(compose) == []


def test_payloads_are_encrypted_with_one_secret_and_the_ui_decodes_through_the_codec(
    compose: Compose,
) -> None:
    defined = services(compose)
    secret = compose["secrets"]["payload_keys"]
    # The keys come from a file outside the repository; no default key anywhere.
    assert interpolate(secret["file"]).startswith("./secrets/")
    assert "/secrets/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    for name in ("worker", "gateway", "codec-server"):
        assert "payload_keys" in defined[name]["secrets"], name
        assert environment(defined[name])["PAYLOAD_KEYS_FILE"] == "/run/secrets/payload_keys"
        assert "PAYLOAD_KEYS" not in environment(defined[name])
    codec = defined["codec-server"]
    args = command(codec)
    assert args[:2] == ["appraisal", "codec-server"]
    port = args[args.index("--port") + 1]
    assert [interpolate(str(p)).rsplit(":", 1)[-1] for p in codec["ports"]] == [port]
    assert "/healthz" in " ".join(codec["healthcheck"]["test"])
    token = {"CODEC_SERVER_TOKEN": "t0ken"}
    with pytest.raises(ValueError, match="CODEC_SERVER_TOKEN"):  # no default token either
        interpolate(environment(codec)["CODEC_SERVER_TOKEN"] or "")
    ui = environment(defined["temporal-ui"])
    endpoint = urlsplit(interpolate(ui["TEMPORAL_CODEC_ENDPOINT"] or "", token))
    assert (str(endpoint.port), endpoint.path) == (port, "/t0ken")  # the token in the path
    origins = interpolate(environment(codec)["CODEC_SERVER_ORIGINS"] or "")
    assert origins == interpolate(ui["TEMPORAL_CORS_ORIGINS"] or "")  # where the UI is opened


def test_the_image_holds_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    packages = re.search(r"include = \[([^\]]*)\]", pyproject)
    assert packages
    for package in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert f"COPY {package} ./{package}" in dockerfile, package


def test_ui_allows_starting_workflows(compose: Compose) -> None:
    env = environment(services(compose)["temporal-ui"])
    assert env.get("TEMPORAL_START_WORKFLOW_DISABLED", "false") == "false"
    assert env.get("TEMPORAL_DISABLE_WRITE_ACTIONS", "false") == "false"


def test_bind_mounted_files_exist(compose: Compose) -> None:
    for name, service in services(compose).items():
        for volume in service.get("volumes") or []:
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":")[0]
            if source and source.startswith((".", "/")):
                assert (ROOT / source).resolve().exists(), f"{name}: {source} is missing"


def test_checks_catch_a_broken_copy(compose: Compose, tmp_path: Path) -> None:
    """The rules above can fail: break a copy of the file (in memory, never committed)."""
    broken = copy.deepcopy(compose)
    defined = services(broken)
    defined["worker"]["image"] = "appraisal-cases:latest"
    defined["temporal"]["image"] = "temporalio/auto-setup"
    defined["postgres"].pop("healthcheck", None)
    defined[ONE_SHOT]["command"] = [c for c in command(defined[ONE_SHOT]) if c != "Overdue=Bool"]

    problems = image_problems(broken)
    assert "temporal: image 'temporalio/auto-setup' has no tag" in problems
    assert "worker: image 'appraisal-cases:latest' is not pinned (:latest)" in problems
    assert any(p.startswith("worker waits for postgres") for p in healthcheck_problems(broken))
    assert sorted(registered_attributes(broken)) != sorted(expected_attributes())

    defined["gateway"]["ports"] = ["8000:9000"]
    defined["postal-emulator"]["environment"]["POSTAL_WEBHOOK_SECRET"] = "another"
    problems = gateway_problems(broken)
    assert "gateway: publishes ['9000'], listens on 8000" in problems
    assert "postal-emulator: signs with another secret than the gateway checks" in problems
    defined["gateway"]["command"] = ["appraisal", "gateway", "--port", "9000"]
    problems = gateway_problems(broken)
    assert any(p.startswith("postal-emulator: webhooks do not go") for p in problems)

    defined["worker"]["enviroment"] = defined["worker"].pop("environment")  # a typo
    broken_file = tmp_path / "docker-compose.yml"
    broken_file.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = schema_check(broken_file)
    assert result.returncode != 0
    assert "enviroment" in result.stdout + result.stderr


def test_interpolation_helper() -> None:
    assert interpolate("${A:-x}-${B-y}-$$HOME", {"A": "", "B": ""}) == "x--$HOME"
    assert interpolate("${A:+set}${B+set}", {"B": ""}) == "set"
    with pytest.raises(ValueError, match="required"):
        interpolate("${SECRET:?set it}")


# --- deploy/ scripts -----------------------------------------------------------------------

needs_sh = pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")

STUB_TEMPORAL = r"""#!/bin/sh
# Stands in for the temporal CLI: logs its arguments, answers as $STUB_CREATE says.
echo "$*" >> "$STUB_LOG"
case "$1 $2 $3" in
  "operator search-attribute list") printf '%s\n' $STUB_LISTED ;;
  "operator search-attribute create")
    case "$STUB_CREATE" in
      ok) echo "Search attributes have been added" ;;
      exists) echo "Error: Search attribute CaseType already exists." >&2; exit 1 ;;
      retyped) echo "Error: search attribute CaseType already exists and has different type Bool" >&2
               exit 1 ;;
      *) echo "Error: connection refused" >&2; exit 1 ;;
    esac ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac
"""


def run_register(
    tmp_path: Path, args: list[str], create: str = "ok", listed: str | None = None
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    stub = tmp_path / "temporal"
    stub.write_text(STUB_TEMPORAL, encoding="utf-8")
    stub.chmod(0o755)
    log = tmp_path / "calls.log"
    log.write_text("", encoding="utf-8")
    names = " ".join(pair.split("=")[0] for pair in args)
    env = {
        **os.environ,
        "PATH": f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}",
        "STUB_LOG": str(log),
        "STUB_CREATE": create,
        "STUB_LISTED": names if listed is None else listed,
        "TEMPORAL_ADDRESS": "temporal:7233",
        "TEMPORAL_NAMESPACE": "cases",
        "REGISTER_ATTEMPTS": "2",
        "REGISTER_SLEEP_SECONDS": "0",
    }
    result = subprocess.run(
        ["sh", str(REGISTER_SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, log.read_text(encoding="utf-8").splitlines()


@needs_sh
def test_registration_creates_every_attribute_of_the_compose_file(
    compose: Compose, tmp_path: Path
) -> None:
    pairs = registered_attributes(compose)
    result, calls = run_register(tmp_path, pairs)
    assert result.returncode == 0, result.stderr
    creates = [c for c in calls if " create " in f" {c} "]
    for pair in pairs:
        name, kind = pair.split("=")
        assert any(f"--name {name} --type {kind} " in c for c in creates), (pair, creates)
    assert all("--address temporal:7233 --namespace cases" in c for c in calls)


@needs_sh
def test_registration_tolerates_already_registered(tmp_path: Path) -> None:
    result, _ = run_register(tmp_path, ["CaseType=Keyword"], create="exists")
    assert result.returncode == 0, result.stderr
    assert "already registered" in result.stdout


@needs_sh
@pytest.mark.parametrize("create", ["retyped", "down"])
def test_registration_fails_loudly(tmp_path: Path, create: str) -> None:
    result, _ = run_register(tmp_path, ["CaseType=Keyword"], create=create)
    assert result.returncode == 1
    assert "CaseType" in result.stderr


@needs_sh
def test_registration_waits_until_the_server_lists_the_attributes(tmp_path: Path) -> None:
    result, _ = run_register(tmp_path, ["CaseType=Keyword"], listed="SomethingElse")
    assert result.returncode == 1
    assert "giving up" in result.stderr


@needs_sh
def test_registration_refuses_malformed_arguments(tmp_path: Path) -> None:
    result, calls = run_register(tmp_path, ["CaseType"])
    assert result.returncode == 2
    assert calls == []


@pytest.mark.parametrize(
    ("shell", "script"), [("sh", REGISTER_SCRIPT), ("bash", DB_INIT_SCRIPT)], ids=["sh", "bash"]
)
def test_deploy_scripts_parse(shell: str, script: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    result = subprocess.run(
        [shell, "-n", str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr


# --- the production authentication override (docker-compose.auth.yml) ----------------------

AUTH_FILE = ROOT / "docker-compose.auth.yml"


def test_auth_override_is_valid_and_only_adds_to_known_services() -> None:
    result = schema_check(AUTH_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    override = services(load(AUTH_FILE))
    assert set(override) <= SERVICES
    for name, service in override.items():
        for volume in service.get("volumes") or []:
            assert (ROOT / volume.split(":")[0]).resolve().exists(), f"{name}: {volume}"


def test_auth_override_requires_client_certificates_sso_and_the_authorizer() -> None:
    override = services(load(AUTH_FILE))
    temporal = environment(override["temporal"])
    assert temporal["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    assert temporal["TEMPORAL_AUTH_AUTHORIZER"] == temporal["TEMPORAL_AUTH_CLAIM_MAPPER"]
    ui = environment(override["temporal-ui"])
    assert ui["TEMPORAL_AUTH_ENABLED"] == "true" and ui["TEMPORAL_AUTH_TYPE"] == "oidc"
    for service in ("worker", "gateway"):  # read by infra/settings.py
        env = environment(override[service])
        assert {"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_API_KEY"} <= set(env)
