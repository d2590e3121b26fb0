"""Static checks of the Docker deployment (no Docker needed, runs in well under a second).

Covers docker-compose.yml, Dockerfile, .dockerignore, .env.example and
docs/deploy-docker.md:

* structure against the Compose specification (what `docker compose config` would reject
  or silently misread): top-level and service keys, image/build, depends_on targets and
  conditions, declared named volumes, string ports, string environment values,
  healthcheck form, well-formed ${...} interpolation;
* secrets: only from .env through ${VAR:?message}, no literal or default passwords, every
  interpolated variable documented in .env.example (and vice versa), secrets empty there;
* consistency with the code: Airflow version of the base image == the pins, CX_* variables
  are ones include/cx/config.py reads, copied/mounted paths exist, CeleryExecutor, a
  scalable worker, api-server on 8080, telemetry off, the cx_duckdb pool;
* the deploy guide names only services, profiles and variables that exist.

Every check asserts that the things it inspects exist, so none can pass on an empty file.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
DOC = ROOT / "docs" / "deploy-docker.md"
CONFIG_PY = ROOT / "include" / "cx" / "config.py"
REQUIREMENTS = ROOT / "requirements.txt"
CONSTRAINTS = ROOT / "constraints.txt"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
)
LONG_RUNNING = (
    "postgres",
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "flower",
)
# Variables that must come from .env, with no default, as ${VAR:?message}.
SECRETS = (
    "POSTGRES_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_JWT_SECRET",
    "CX_PII_SALT",
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|SALT|TOKEN|_KEY$|PASSWD")
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "SCARF_ANALYTICS": "false",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}

# Compose specification: allowed top-level and service keys (compose-spec, 2024+).
TOP_LEVEL_KEYS = {"version", "name", "include", "services", "networks", "volumes", "secrets", "configs", "models"}
SERVICE_KEYS = {
    "annotations",
    "attach",
    "build",
    "blkio_config",
    "cpu_count",
    "cpu_percent",
    "cpu_shares",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_runtime",
    "cpu_rt_period",
    "cpus",
    "cpuset",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "driver_opts",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "label_file",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
RESTART_POLICIES = {"no", "always", "on-failure", "unless-stopped"}
DURATION = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")

# ${NAME}, ${NAME:-x}, ${NAME-x}, ${NAME:?x}, ${NAME?x}, ${NAME:+x}, ${NAME+x}
BRACED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
BARE = re.compile(r"\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
ESCAPED = "\x00DOLLAR\x00"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE.is_file(), "docker-compose.yml is missing"
    data = yaml.safe_load(COMPOSE.read_text())  # SafeLoader resolves anchors and `<<`
    assert isinstance(data, dict) and data.get("services"), "no services in docker-compose.yml"
    return data


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    assert ENV_EXAMPLE.is_file(), ".env.example is missing"
    values: dict[str, str] = {}
    for raw in ENV_EXAMPLE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        assert "=" in line, f".env.example: not KEY=VALUE: {raw!r}"
        key, value = line.split("=", 1)
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), f"bad variable name {key!r}"
        assert key not in values, f"{key} defined twice in .env.example"
        values[key] = value
    assert values, ".env.example defines no variable"
    return values


@pytest.fixture(scope="module")
def config_env_names() -> set[str]:
    from cx.config import Settings, variable

    return {variable(name) for name in Settings.model_fields}


def walk_strings(node, path="$"):
    """Every string scalar of a parsed YAML document with its path (keys excluded)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_strings(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


def interpolations(value: str) -> list[tuple[str, str | None, str]]:
    """(name, operator, argument) of each Compose interpolation in a value; `$$` is literal."""
    text = value.replace("$$", ESCAPED)
    found = [(m["name"], m["op"], m["arg"] or "") for m in BRACED.finditer(text)]
    rest = BRACED.sub("", text)
    found += [(m["name"], None, "") for m in BARE.finditer(rest)]
    rest = BARE.sub("", rest)
    assert "$" not in rest, f"malformed interpolation in {value!r}"
    return found


def resolve_defaults(value: str) -> str:
    """Interpolate the way compose would with an empty .env (defaults only)."""

    def sub(m: re.Match) -> str:
        return m["arg"] if m["op"] in (":-", "-") else ""

    return BRACED.sub(sub, value.replace("$$", "$"))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def volume_entries(service: dict) -> list[dict]:
    """Service volumes in long form: {type, source, target, read_only}."""
    out = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            out.append(entry)
            continue
        assert isinstance(entry, str), f"volume entry must be a string or mapping: {entry!r}"
        source = None
        parts = resolve_defaults(entry).split(":")
        if len(parts) == 1:
            target, mode = parts[0], ""
        elif len(parts) == 2:
            source, target, mode = parts[0], parts[1], ""
        else:
            assert len(parts) == 3, f"volume entry {entry!r} has too many ':'"
            source, target, mode = parts
        for flag in filter(None, mode.split(",")):
            assert flag in {
                "ro",
                "rw",
                "z",
                "Z",
                "nocopy",
                "cached",
                "delegated",
                "consistent",
                "shared",
                "rshared",
                "slave",
                "rslave",
                "private",
                "rprivate",
            }, f"unknown volume mode {flag!r} in {entry!r}"
        kind = "bind" if source and source[0] in "./~" else "volume"
        out.append(
            {"type": kind, "source": source, "target": target, "read_only": "ro" in mode.split(","), "raw": entry}
        )
        assert target.startswith("/"), f"volume target must be absolute: {entry!r}"
    return out


def container_ports(service: dict) -> list[int]:
    ports = []
    for entry in service.get("ports") or []:
        spec = resolve_defaults(entry).split("/")[0]
        ports.append(int(spec.rsplit(":", 1)[-1]))
    return ports


# ----------------------------------------------------------- Compose specification


def test_top_level_structure(compose):
    extra = {k for k in compose if k not in TOP_LEVEL_KEYS and not k.startswith("x-")}
    assert not extra, f"unknown top-level keys: {extra}"
    assert "version" not in compose, "`version` is obsolete in the Compose specification"
    assert "x-airflow-common" in compose, "the x-airflow-common anchor is missing"
    for name, service in compose["services"].items():
        assert re.fullmatch(r"[a-zA-Z0-9._-]+", name), f"bad service name {name!r}"
        assert isinstance(service, dict), name


def test_services_use_known_keys_and_have_image_or_build(services):
    assert len(services) >= 8
    for name, service in services.items():
        unknown = set(service) - SERVICE_KEYS
        assert not unknown, f"{name}: keys not in the Compose spec: {unknown}"
        assert "image" in service or "build" in service, f"{name}: needs image or build"
        if "restart" in service:
            assert service["restart"] in RESTART_POLICIES or str(service["restart"]).startswith("on-failure:"), (
                f"{name}: restart"
            )
        if "profiles" in service:
            assert isinstance(service["profiles"], list) and service["profiles"], name


def test_airflow_services_build_the_project_image(compose, services):
    for name in AIRFLOW_SERVICES + ("flower",):
        build = services[name].get("build")
        assert build, f"{name} is not built from the Dockerfile"
        context = build if isinstance(build, str) else build["context"]
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
    images = {services[name].get("image") for name in AIRFLOW_SERVICES}
    assert len(images) == 1, f"Airflow services should share one image tag, got {images}"


def test_depends_on_targets_and_conditions(services):
    checked = 0
    for name, service in services.items():
        deps = service.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for target, spec in deps.items():
            checked += 1
            assert target in services, f"{name} depends on unknown service {target}"
            assert target != name, f"{name} depends on itself"
            condition = (spec or {}).get("condition", "service_started")
            assert condition in DEPENDS_CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], (
                    f"{name} waits for {target} to be healthy but {target} has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") in ("no", "on-failure"), target
    assert checked >= 10


def test_startup_order(services):
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    assert "airflow-init" not in services["airflow-init"]["depends_on"]
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == ("service_healthy")


def test_healthchecks(services):
    for name in LONG_RUNNING:
        hc = services[name].get("healthcheck")
        assert hc, f"{name} has no healthcheck"
        assert set(hc) <= HEALTHCHECK_KEYS, f"{name}: {set(hc) - HEALTHCHECK_KEYS}"
        test = hc["test"]
        assert isinstance(test, (str, list)) and test, name
        if isinstance(test, list):
            assert test[0] in ("CMD", "CMD-SHELL", "NONE"), f"{name}: {test[0]}"
            assert len(test) >= 2 and all(isinstance(t, str) for t in test), name
        for key in ("interval", "timeout", "start_period"):
            if key in hc:
                assert DURATION.match(str(hc[key])), f"{name}: {key}={hc[key]!r}"
        if "retries" in hc:
            assert isinstance(hc["retries"], int) and hc["retries"] > 0, name


def test_named_volumes_are_declared_and_binds_exist(compose, services):
    declared = set(compose.get("volumes") or {})
    assert {"cx-data", "postgres-db"} <= declared
    used_named: set[str] = set()
    for name, service in services.items():
        for vol in volume_entries(service):
            if vol["type"] == "volume" and vol["source"]:
                assert vol["source"] in declared, f"{name}: volume {vol['source']} not declared"
                used_named.add(vol["source"])
    assert used_named, "no named volume is used"
    assert declared <= used_named, f"declared but unused volumes: {declared - used_named}"


def test_ports_are_strings_and_expose_valid(services):
    seen = 0
    for name, service in services.items():
        for entry in service.get("ports") or []:
            seen += 1
            assert isinstance(entry, str), f"{name}: port {entry!r} must be a quoted string"
            assert re.fullmatch(r"(\d{1,3}(\.\d{1,3}){3}:)?[^:]+:\d+(/(tcp|udp))?", resolve_defaults(entry)), (
                f"{name}: bad port {entry!r}"
            )
        for entry in service.get("expose") or []:
            assert isinstance(entry, str) and entry.isdigit(), f"{name}: expose {entry!r}"
    assert seen >= 2


def test_environment_values_are_strings(services):
    seen = 0
    for name, service in services.items():
        for key, value in environment(service).items():
            seen += 1
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), f"{name}: {key}"
            # YAML would turn an unquoted true/1 into bool/int and compose would then
            # stringify it differently ("True"); quote every value.
            assert isinstance(value, str), f"{name}: {key}={value!r} is not a string"
    assert seen > 40


def test_interpolation_only_uses_documented_variables(compose, env_example):
    used: dict[str, list[str]] = {}
    for path, value in walk_strings(compose):
        for name, _op, _arg in interpolations(value):
            used.setdefault(name, []).append(path)
    assert set(SECRETS) <= set(used), f"secrets not used: {set(SECRETS) - set(used)}"
    undocumented = set(used) - set(env_example)
    assert not undocumented, f"interpolated but not in .env.example: {sorted(undocumented)}"
    unused = set(env_example) - set(used)
    assert not unused, f"in .env.example but not used by docker-compose.yml: {sorted(unused)}"


def test_secrets_are_required_from_env(compose, env_example):
    uses = 0
    for path, value in walk_strings(compose):
        for name, op, arg in interpolations(value):
            if name in SECRETS or SECRET_NAME.search(name):
                uses += 1
                assert name in SECRETS, f"{name} looks secret: add it to SECRETS"
                assert op == ":?" and arg.strip(), (
                    f"{path}: secret {name} must be ${{{name}:?message}} (no default), got {op}"
                )
    assert uses >= len(SECRETS)
    text = ENV_EXAMPLE.read_text()
    for name in SECRETS:
        assert env_example[name] == "", f".env.example must leave {name} empty"
        block = text.split(f"\n{name}=")[0].rsplit("\n\n", 1)[-1]
        assert "python -c" in block, f".env.example: no generator command above {name}"
    assert "Fernet.generate_key()" in text


def test_no_literal_passwords(compose, services):
    checked = 0
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                checked += 1
                stripped = BRACED.sub("", value.replace("$$", ESCAPED))
                stripped = re.sub(re.escape(ESCAPED) + r"\{?[A-Za-z_]\w*\}?", "", stripped)
                assert stripped == "", f"{name}: {key} has a literal part {value!r}"
    assert checked >= len(SECRETS)
    urls = 0
    for path, value in walk_strings(compose):
        # Mask each ${...} as one opaque token so the ':' inside it does not split user/password.
        parts: list[str] = [m[0] for m in BRACED.finditer(value)]
        counter = iter(range(len(parts)))
        masked = BRACED.sub(lambda _: f"\x01{next(counter)}\x01", value)  # noqa: B023 (used at once)
        for m in re.finditer(r"://([^:/@\s]+):([^@\s]*)@", masked):
            urls += 1
            secret = re.fullmatch(r"\x01(\d+)\x01", m[2])
            assert secret, f"{path}: literal password in URL {value!r}"
            assert ":?" in parts[int(secret[1])], f"{path}: URL password must be ${{VAR:?...}}"
    assert urls >= 2
    for path in (COMPOSE, DOCKERFILE, ENV_EXAMPLE, DOC):
        text = path.read_text()
        for pattern in (
            r"airflow:airflow@",
            r"PASSWORD[=:]\s*[\"']?(airflow|admin|postgres)\b",
            r"--password\s+(admin|airflow)\b",
            r"cx-dev-salt-change-me",
        ):
            assert not re.search(pattern, text), f"{path.name}: default secret {pattern!r}"


def test_env_example_is_ignored_but_shipped():
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert ".env" in gitignore
    ignore = DOCKERIGNORE.read_text().split()
    for entry in (".env", ".venv/", "include/data/", ".git/", "__pycache__/", ".pytest_cache/", "dbt_project/target/"):
        assert entry in ignore, f".dockerignore should exclude {entry}"


# ----------------------------------------------------------- consistency with code


def _pin(path: Path, package: str) -> str:
    m = re.search(rf"^{re.escape(package)}==([^\s;#]+)", path.read_text(), re.M | re.I)
    assert m, f"{path.name} does not pin {package}"
    return m[1]


def test_dockerfile_base_image_matches_pins():
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) == 1, froms
    m = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", froms[0])
    assert m, f"base image should be the official apache/airflow:X.Y.Z-pythonA.B, got {froms[0]}"
    assert m[1] == _pin(REQUIREMENTS, "apache-airflow") == _pin(CONSTRAINTS, "apache-airflow")
    assert m[2] == "3.11"
    assert '">=3.11,<3.12"' in (ROOT / "pyproject.toml").read_text()


def test_dockerfile_installs_and_builds_what_the_dag_needs():
    text = DOCKERFILE.read_text()
    flat = re.sub(r"\\\n\s*", " ", text)
    assert re.search(r"pip install .*-r \S*requirements\.txt.*-c \S*constraints\.txt", flat)
    assert re.search(r"pip install --no-deps -e ", flat)
    assert re.search(r"dbt parse", flat) and "manifest.json" in text
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(.+?)\s+\S+$", text, re.M)
    sources = {s.rstrip("/") for line in copied for s in line.split()}
    for needed in (
        "dags",
        "plugins",
        "include",
        "dbt_project",
        "requirements.txt",
        "constraints.txt",
        "pyproject.toml",
    ):
        assert needed in sources, f"Dockerfile does not COPY {needed}"
        assert (ROOT / needed).exists(), f"{needed} does not exist in the repository"
    assert re.search(r"^HEALTHCHECK\s", text, re.M)


def test_dockerfile_sets_telemetry_off():
    flat = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV\s+(.*)$", flat, re.M))))
    for key, value in TELEMETRY_OFF.items():
        assert env.get(key) == value, f"Dockerfile ENV {key}={env.get(key)!r}, want {value}"


def test_cx_variables_are_read_by_config(services, config_env_names):
    seen = set()
    for name, service in services.items():
        for key in environment(service):
            if key.startswith("CX_"):
                seen.add(key)
                assert key in config_env_names, f"{name} sets {key}, which config.py never reads"
    flat = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    for key in re.findall(r"\b(CX_[A-Z0-9_]+)=", " ".join(re.findall(r"^ENV\s+(.*)$", flat, re.M))):
        seen.add(key)
        assert key in config_env_names, f"Dockerfile sets {key}, which config.py never reads"
    assert {
        "CX_WAREHOUSE",
        "CX_LANDING_DIR",
        "CX_ARTIFACTS_DIR",
        "CX_PII_SALT",
        "CX_ML_CADENCE",
        "CX_DUCKDB_THREADS",
        "CX_DUCKDB_MEMORY_LIMIT",
        "CX_LOCK_TIMEOUT_S",
    } <= seen


def test_project_paths_exist():
    for name in ("dags", "plugins", "include", "include/cx", "dbt_project"):
        assert (ROOT / name).is_dir(), f"{name}/ missing"
    assert CONFIG_PY.is_file()


def test_celery_executor_and_shared_settings(compose, services):
    common = compose["x-airflow-common"]["environment"]
    assert common["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert common["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "@postgres:" in common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert common["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert common["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == ("http://airflow-apiserver:8080/execution/")
    for name in AIRFLOW_SERVICES + ("flower",):
        env = environment(services[name])
        for key in (
            "AIRFLOW__CORE__EXECUTOR",
            "AIRFLOW__CORE__FERNET_KEY",
            "AIRFLOW__API__SECRET_KEY",
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            "CX_PII_SALT",
        ):
            assert env.get(key) == common[key], f"{name}: {key} differs from the common block"


def test_required_services_and_commands(services):
    expected = {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker",
        "flower": "celery flower",
    }
    for name, command in expected.items():
        assert services[name]["command"] == command, name
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["flower"]["profiles"] == ["flower"]
    assert "profiles" not in services["airflow-worker"]


def test_worker_is_scalable(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker
    assert not worker.get("ports"), "a scaled worker cannot bind fixed host ports"
    assert "hostname" not in worker
    assert environment(worker)["DUMB_INIT_SETSID"] == "0"


def test_apiserver_exposes_8080(services):
    api = services["airflow-apiserver"]
    assert container_ports(api) == [8080]
    assert "8080" in " ".join(api["healthcheck"]["test"])


def test_init_migrates_creates_admin_and_pool(services):
    init = services["airflow-init"]
    script = init["command"] if isinstance(init["command"], str) else "\n".join(init["command"])
    assert "airflow db migrate" in script
    assert "airflow users create" in script and "--role Admin" in script
    assert re.search(r"airflow pools set cx_duckdb 1\b", script)
    env = environment(init)
    for key in ("AIRFLOW_ADMIN_USERNAME", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_ADMIN_EMAIL"):
        assert key in env and f"$${{{key}}}" in script, key


def test_data_volumes_and_paths(services):
    for name in AIRFLOW_SERVICES:
        service = services[name]
        vols = {v["target"]: v for v in volume_entries(service)}
        assert vols["/opt/cx/data"]["source"] == "cx-data", name
        assert vols["/opt/cx/data"]["type"] == "volume" and not vols["/opt/cx/data"]["read_only"]
        landing = vols["/opt/cx/landing"]
        assert landing["type"] == "bind", name
        assert "${CX_LANDING_HOST_DIR:-./include/data/landing}" in landing["raw"]
        env = environment(service)
        assert env["CX_WAREHOUSE"] == "/opt/cx/data/warehouse/cx.duckdb", name
        assert env["CX_LANDING_DIR"] == "/opt/cx/landing", name
        assert env["CX_ARTIFACTS_DIR"] == "/opt/cx/data/artifacts", name
        # The lock file sits beside the DB, so it is on the shared volume as well.
        assert env["CX_WAREHOUSE"].startswith("/opt/cx/data/")


def test_telemetry_off_everywhere(services):
    for name in AIRFLOW_SERVICES + ("flower",):
        env = environment(services[name])
        for key, value in TELEMETRY_OFF.items():
            assert env.get(key) == value, f"{name}: {key}={env.get(key)!r}"


# --------------------------------------------------------------------- the guide


def _doc_compose_commands() -> list[list[str]]:
    text = DOC.read_text()
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("docker compose "):
                # Cut at the first quote: the rest is the in-container command.
                head = re.split(r"[\"']", line, maxsplit=1)[0]
                commands.append(shlex.split(head, comments=True)[2:])
    return commands


def test_doc_commands_name_existing_services(services):
    commands = _doc_compose_commands()
    assert len(commands) >= 8
    global_with_value = {"--profile", "-f", "--file", "-p", "--project-name", "--env-file"}
    options_with_value = {
        "--scale",
        "-u",
        "--user",
        "-w",
        "--workdir",
        "-e",
        "--env",
        "--index",
        "--rmi",
        "--tail",
        "-t",
        "--timeout",
    }
    named = set()
    profiles = {p for s in services.values() for p in s.get("profiles", [])}
    for args in commands:
        i = 0
        while i < len(args) and args[i].startswith("-"):  # global options
            if args[i] == "--profile":
                assert args[i + 1] in profiles, f"unknown profile {args[i + 1]}"
            i += 2 if args[i] in global_with_value else 1
        sub, rest = args[i], args[i + 1 :]
        assert sub in {
            "build",
            "up",
            "down",
            "ps",
            "logs",
            "exec",
            "run",
            "pull",
            "restart",
            "stop",
            "start",
            "config",
        }, f"unexpected subcommand {sub}"
        positional = []
        j = 0
        while j < len(rest):
            arg = rest[j]
            if arg.startswith("-"):
                if arg == "--scale":
                    target = rest[j + 1].split("=")[0]
                    assert target in services, f"--scale of unknown service {target}"
                    named.add(target)
                j += 2 if arg in options_with_value else 1
                continue
            positional.append(arg)
            if sub in ("exec", "run"):
                break  # the rest is the command run inside the container
            j += 1
        for service in positional:
            assert service in services, f"docs mention unknown service {service!r}"
            named.add(service)
    assert {"airflow-init", "airflow-scheduler", "airflow-worker"} <= named


def test_doc_backticked_names_exist(services, env_example, compose):
    text = DOC.read_text()
    ticks = set(re.findall(r"`([^`\n]+)`", text))
    service_like = {t for t in ticks if re.fullmatch(r"airflow-[a-z-]+|postgres|redis|flower", t)}
    assert service_like, "the guide names no service"
    assert service_like <= set(services), service_like - set(services)
    known_vars = set(env_example)
    for service in services.values():
        known_vars |= set(environment(service))
    flat = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    known_vars |= set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", " ".join(re.findall(r"^ENV\s+(.*)$", flat, re.M))))
    mentioned = set(re.findall(r"\b((?:CX|AIRFLOW|POSTGRES|FLOWER|DBT|SCARF|DO)_[A-Z0-9_]+)\b", text))
    assert len(mentioned) >= 20
    unknown = mentioned - known_vars
    assert not unknown, f"the guide mentions variables compose/.env.example do not: {unknown}"
    volumes = set(compose["volumes"])
    for vol in ("cx-data", "postgres-db"):
        assert f"`{vol}`" in text and vol in volumes


def test_doc_has_the_deployment_steps():
    text = DOC.read_text()
    assert text.startswith("# Deploy with Docker")
    for snippet in (
        "cp .env.example .env",
        "docker compose build",
        "docker compose up airflow-init",
        "docker compose up -d",
        "docker compose up -d --scale airflow-worker=",
        "docker compose exec airflow-scheduler airflow backfill create --dag-id cx_daily --from-date ",
        "--to-date ",
        "http://localhost:8080",
        "/opt/cx/landing",
        "cx_duckdb",
    ):
        assert snippet in text, f"docs/deploy-docker.md lacks {snippet!r}"
    for name in SECRETS:
        assert f"`{name}`" in text, f"the guide does not explain {name}"


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[=<>~!\[; ]", line, maxsplit=1)[0].lower())
    return names


def test_the_image_ships_the_runtime_only_and_every_requirement_is_pinned():
    """requirements.txt is what the image installs; tests and linters live in
    requirements-dev.txt (on top of it), and constraints.txt pins both."""
    runtime, dev = _requirement_names(REQUIREMENTS), _requirement_names(ROOT / "requirements-dev.txt")
    assert not runtime & {"pytest", "playwright", "ruff", "sqlfluff", "pre-commit"}, runtime
    assert {"pytest", "playwright", "ruff", "sqlfluff", "sqlfluff-templater-dbt"} <= dev
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
    pinned = {name.lower().replace("_", "-") for name in _requirement_names(CONSTRAINTS)}
    assert {name.replace("_", "-") for name in runtime | dev} <= pinned
    instructions = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in instructions if "requirements-dev" in line]
