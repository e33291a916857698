"""The deployment files, each checked with the tool its users would run, where that tool installs without Docker.

docker-compose.yml, Dockerfile, deploy/haproxy, deploy/systemd and deploy/monitoring. Kubernetes manifests are in
test_deploy_kubernetes.py; the load balancer in front of real bridges is in test_deploy_lb.py.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from bridge.metrics import Metrics
from bridge.settings import ConfigError, Settings
from consumers import Consumer
from consumers.database import parse
from consumers.topology import Names

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SHIPPED_CONSUMERS = {"consumers.cdr:archive", "consumers.sessions:tracker", "consumers.notifier:notifier"}


def tool(name: str) -> str:
    """A command from PATH or from this virtualenv; a missing one skips the test, or fails it under CI."""
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def compose() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # resolves `<<:` merges
    return spec


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, duration
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def dotenv(path: Path) -> dict[str, str]:
    """KEY=value lines; a value in single quotes is literal (how docker compose and systemd both read it)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value[1:-1] if value.startswith("'") and value.endswith("'") else value
    return values


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${NAME:-default}` (unset or empty) and `${NAME-default}` (unset) with the values of an .env file."""

    def value_of(match: re.Match[str]) -> str:
        name, operator, default = match.groups()
        found = env.get(name)
        if found is None or (found == "" and operator == ":-"):
            return default or ""
        return found

    return re.sub(r"\$\{(\w+)(?:(:?-)([^}]*))?\}", value_of, value)


# --- docker-compose.yml ---------------------------------------------------------------------------------------


def bridges(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if "BRIDGE_JOURNAL_DIR" in s.get("environment", {})}


def data_volume(service: dict[str, Any]) -> str:
    (volume,) = [v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == "/data"]
    return str(volume)


def test_compose_file_follows_the_compose_specification() -> None:
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml")


def test_compose_runs_two_bridges_each_with_a_journal_volume_of_its_own() -> None:
    spec = compose()
    replicas = bridges(spec["services"])
    assert len(replicas) == 2
    volumes = [data_volume(service) for service in replicas.values()]
    assert len(set(volumes)) == 2, "a journal belongs to one bridge process"
    assert set(volumes) <= set(spec["volumes"]), "named volumes, so the journals outlive the containers"
    for service in replicas.values():
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert service["environment"]["BRIDGE_JOURNAL_DIR"].startswith("/data/")
        assert service.get("command") is None  # the image's CMD: the bridge
        env = {k: interpolate(str(v), {}) for k, v in service["environment"].items()}
        grace, drain = float(env["BRIDGE_SHUTDOWN_GRACE"]), float(env["BRIDGE_DRAIN_TIMEOUT"])
        assert seconds(service["stop_grace_period"]) > grace + drain


def test_compose_puts_haproxy_in_front_of_every_bridge_with_the_shipped_config() -> None:
    services = compose()["services"]
    lb = services["lb"]
    assert lb["image"].startswith("haproxy:")
    assert any(str(port).endswith(":8080") for port in lb["ports"])
    assert "./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in lb["volumes"]
    assert {v for k, v in lb["environment"].items() if k.startswith("LB_BRIDGE_")} == {
        f"{name}:8080" for name in bridges(services)
    }
    config = [line.split("#")[0] for line in (DEPLOY / "haproxy" / "haproxy.cfg").read_text().splitlines()]
    config_vars = set(re.findall(r"\$\{(LB_\w+)", "\n".join(config)))
    assert config_vars == set(lb["environment"]), "every variable the config reads is set, and nothing else"


def test_compose_runs_rabbitmq_with_management_a_healthcheck_and_a_named_volume() -> None:
    spec = compose()
    rabbitmq = spec["services"]["rabbitmq"]
    assert "management" in rabbitmq["image"]
    assert rabbitmq["healthcheck"]["test"][0] == "CMD"
    assert rabbitmq["hostname"], "the node name, hence the data directory, must not change with the container"
    assert rabbitmq["volumes"][0].split(":") == ["rabbitmq", "/var/lib/rabbitmq"]
    assert "rabbitmq" in spec["volumes"]
    plugins = (ROOT / rabbitmq["volumes"][1].split(":")[0]).read_text()
    assert "rabbitmq_prometheus" in plugins
    assert "rabbitmq_management" in plugins
    assert "rabbitmq_consistent_hash_exchange" in plugins  # partitioned consumers need it


def test_ci_enables_the_consistent_hash_exchange_on_its_broker() -> None:
    assert "rabbitmq-plugins enable rabbitmq_consistent_hash_exchange" in (ROOT / ".ci" / "run").read_text()


def test_compose_runs_the_three_shipped_consumers_on_the_same_image_and_broker() -> None:
    services = compose()["services"]
    consumers = {name: s for name, s in services.items() if s.get("command", [None])[0] == "consumers"}
    assert {s["command"][2] for s in consumers.values()} == SHIPPED_CONSUMERS
    (bridge, *_) = bridges(services).values()
    for service in consumers.values():
        assert service["command"][:2] == ["consumers", "run"]
        assert service["image"] == bridge["image"]
        assert service["environment"]["RABBITMQ_URL"] == bridge["environment"]["RABBITMQ_URL"]
        assert service["environment"]["CONSUMER_EXCHANGE"] == bridge["environment"]["BRIDGE_EXCHANGE"]
        assert service["healthcheck"] == {"disable": True}
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert services["sessions"]["environment"]["SESSIONS_HTTP_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("target", sorted(SHIPPED_CONSUMERS))
def test_shipped_consumer_import_strings_name_consumers(target: str) -> None:
    module, _, name = target.partition(":")
    assert isinstance(getattr(importlib.import_module(module), name), Consumer)


def test_env_example_documents_exactly_what_compose_reads_and_gives_the_bridge_a_valid_configuration() -> None:
    example = dotenv(ROOT / ".env.example")
    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / "docker-compose.cluster.yml").read_text()
    assert set(example) - {"COMPOSE_PROFILES"} == set(re.findall(r"\$\{(\w+)", text))
    profiles = {p for service in compose()["services"].values() for p in service.get("profiles", [])}
    assert profiles == {"notifier", "monitoring", "postgres"}
    assert orjson.loads(example["OPENVIDU_WEBHOOK_HEADERS"])  # plain JSON, as OPENVIDU_WEBHOOK_HEADERS is
    for name, service in bridges(compose()["services"]).items():
        env = {key: interpolate(str(value), example) for key, value in service["environment"].items()}
        settings = Settings.from_env(env)  # raises ConfigError naming a bad variable
        assert settings.webhook_headers, name


def test_compose_without_an_env_file_runs_with_the_example_header_and_an_emptied_one_fails_closed() -> None:
    example = dotenv(ROOT / ".env.example")
    for name, service in bridges(compose()["services"]).items():
        bare = {key: interpolate(str(value), {}) for key, value in service["environment"].items()}
        assert Settings.from_env(bare).webhook_headers == (("authorization", "Basic T1BFTlZJRFVBUFA6Y2hhbmdlLW1l"),)
        assert orjson.loads(bare["BRIDGE_WEBHOOK_HEADERS"]) == orjson.loads(example["OPENVIDU_WEBHOOK_HEADERS"])
        emptied = {
            key: interpolate(str(value), {"OPENVIDU_WEBHOOK_HEADERS": ""})
            for key, value in service["environment"].items()
        }
        with pytest.raises(ConfigError, match="BRIDGE_ALLOW_UNAUTHENTICATED"):
            Settings.from_env(emptied)
        assert (
            Settings.from_env({**emptied, "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s"}).webhook_headers == ()
        ), name


def test_postgres_profile_serves_the_tracker_and_the_store_when_env_names_it() -> None:
    example = dotenv(ROOT / ".env.example")
    services = compose()["services"]
    postgres = services["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    url = re.search(r"postgresql://\S+", (ROOT / ".env.example").read_text())
    assert url is not None
    env = postgres["environment"]
    wanted = f"postgresql://{env['POSTGRES_USER']}:<POSTGRES_PASSWORD>@postgres:5432/{env['POSTGRES_DB']}"
    assert url[0] == wanted
    for name, variable in (("sessions", "SESSIONS_DB"), ("notifier", "CONSUMER_STORE")):
        service = services[name]
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy", "required": False}
        bare = interpolate(str(service["environment"][variable]), {})
        switched = interpolate(str(service["environment"][variable]), {variable: url[0]})
        assert parse(switched, variable).engine == "postgres"
        if bare:  # empty CONSUMER_STORE: the SQLite default under CONSUMER_STATE_DIR
            assert parse(bare, variable).engine == "sqlite"
    assert interpolate(str(services["sessions"]["environment"]["SESSIONS_DB"]), example) == "/data/sessions.sqlite3"


def test_monitoring_profile_scrapes_every_bridge_and_provisions_the_dashboard() -> None:
    services = compose()["services"]
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["monitoring"]
    for service in ("prometheus", "grafana"):
        for mount in services[service]["volumes"]:
            if mount.startswith("./"):
                assert (ROOT / mount.split(":")[0]).exists(), mount
    scrape = yaml.safe_load((DEPLOY / "monitoring" / "prometheus.yml").read_text())["scrape_configs"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape}
    assert set(targets["bridge"]) == {f"{name}:8080" for name in bridges(services)}
    assert targets["haproxy"] == [f"lb:{services['lb']['environment']['LB_STATS_BIND'].lstrip(':')}"]
    assert targets["rabbitmq-queues"] == ["rabbitmq:15692"]


def test_dashboard_charts_only_metrics_the_bridge_exports() -> None:
    dashboard = orjson.loads((DEPLOY / "monitoring" / "grafana" / "dashboards" / "openvidu-bridge.json").read_bytes())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    exported = {f.name + suffix for f in Metrics().registry.collect() for suffix in suffixes[f.type]}
    used = {name for query in queries for name in re.findall(r"\bbridge_[a-z_]+", query)}
    assert used, "the dashboard charts the bridge"
    assert used <= exported, used - exported
    for wanted in ("bridge_requests_total", "bridge_response_seconds_bucket", "bridge_journal_pending_events"):
        assert wanted in used


def test_dashboard_tells_consumer_queues_from_their_retry_and_dead_letter_queues() -> None:
    dashboard = orjson.loads((DEPLOY / "monitoring" / "grafana" / "dashboards" / "openvidu-bridge.json").read_bytes())
    queries = {panel["title"]: panel["targets"][0]["expr"] for panel in dashboard["panels"] if "targets" in panel}

    def selector(title: str) -> str:
        (pattern,) = re.findall(r'queue[!=]~"([^"]+)"', queries[title])
        return pattern.replace("\\\\", "\\")  # PromQL string escaping

    names = Names("cdr-archive")  # the queue names consumers.topology declares
    excluded, dead, retry = (
        selector("Consumer queue depth"),
        selector("Dead letters"),
        selector("Messages waiting for a retry"),
    )
    assert "!~" in queries["Consumer queue depth"]
    assert not re.fullmatch(excluded, names.queue)
    assert all(re.fullmatch(excluded, q) for q in (names.dead, names.retry(5), names.bindings, "openvidu.unrouted"))
    assert re.fullmatch(dead, names.dead)
    assert not re.fullmatch(dead, names.queue)
    assert re.fullmatch(retry, names.retry(30))
    assert not re.fullmatch(retry, names.queue)


# --- Dockerfile ---------------------------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def test_dockerfile_passes_hadolint() -> None:
    run(tool("hadolint"), "--no-color", "--failure-threshold", "info", "Dockerfile")


def test_dockerfile_is_multi_stage_with_no_build_step_in_the_final_image() -> None:
    stages = [arg for op, arg in instructions() if op == "FROM"]
    assert len(stages) >= 2
    assert " AS " in stages[0].upper()
    assert "-slim" in stages[-1]
    final = final_stage()
    assert any(op == "COPY" and arg.startswith("--from=") for op, arg in final)
    assert not any(op == "RUN" and re.search(r"\b(pip|apt-get|gcc|make)\b", arg) for op, arg in final)


def test_dockerfile_runs_as_a_non_root_user_with_exec_form_commands_and_a_health_check() -> None:
    final = dict(final_stage())
    assert final["USER"].split(":")[0] not in ("0", "root")
    assert orjson.loads(final["CMD"]) == ["bridge"]  # exec form: SIGTERM reaches the bridge, not a shell
    assert "ENTRYPOINT" not in final or final["ENTRYPOINT"].startswith("[")
    healthcheck = final["HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert orjson.loads(healthcheck.split("CMD", 1)[1])[0] == "python"
    assert final["VOLUME"] == '["/data"]'
    assert "BRIDGE_JOURNAL_DIR=/data/journal" in final["ENV"]


def test_dockerignore_sends_only_what_the_image_installs() -> None:
    patterns = (ROOT / ".dockerignore").read_text().split()
    sent = ["*", "!pyproject.toml", "!README.md", "!bridge/", "!consumers/", "!requirements/runtime.txt"]
    assert patterns[patterns.index("*") :][:6] == sent
    copied = {arg.split()[0] for op, arg in instructions() if op == "COPY" and not arg.startswith("--from")}
    assert copied == {"requirements/runtime.txt", "pyproject.toml", "bridge", "consumers"}


def test_the_image_installs_the_runtime_lock_and_nothing_unlocked() -> None:
    installs = [arg for op, arg in instructions() if op == "RUN" and "pip install" in arg]
    assert "--require-hashes" in installs[0]
    assert "-r requirements/runtime.txt" in installs[0]
    assert all("--require-hashes" in arg or "--no-deps" in arg for arg in installs)


# --- haproxy and systemd -------------------------------------------------------------------------------------


def test_haproxy_config_is_valid_for_loopback_instances() -> None:
    env = {**os.environ, "LB_BIND": "127.0.0.1:18080", "LB_BRIDGE_1": "127.0.0.1:8081", "LB_BRIDGE_2": "127.0.0.1:8082"}
    result = run(tool("haproxy"), "-c", "-f", str(DEPLOY / "haproxy" / "haproxy.cfg"), env=env)
    # A machine whose /etc/resolv.conf lists no nameserver is no fault of the configuration.
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line and "no nameservers" not in line]
    assert warnings == [], result.stderr


def unit(path: Path) -> dict[str, list[str]]:
    """A systemd unit's keys, each with all its values in order (Environment= appears several times)."""
    keys: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            keys.setdefault(key, []).append(value)
    return keys


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    # verify wants ExecStart to exist: point it at /bin/true, the rest of the unit is checked as shipped.
    for name, instance in [("openvidu-bridge@", "8081"), ("openvidu-consumer@", "cdr")]:
        text = (DEPLOY / "systemd" / f"{name}.service").read_text()
        (tmp_path / f"{name}.service").write_text(re.sub(r"ExecStart=\S+", "ExecStart=/bin/true", text))
        (tmp_path / f"{name}{instance}.service").symlink_to(tmp_path / f"{name}.service")
        result = run(analyze, "verify", "--man=no", str(tmp_path / f"{name}{instance}.service"))
        assert f"{name}.service" not in result.stderr, result.stderr


def test_systemd_bridge_instances_each_have_a_journal_and_time_to_drain() -> None:
    bridge = unit(DEPLOY / "systemd" / "openvidu-bridge@.service")
    assert "BRIDGE_JOURNAL_DIR=%S/openvidu-bridge/%i" in bridge["Environment"]
    assert "BRIDGE_PORT=%i" in bridge["Environment"]
    assert bridge["StateDirectory"] == ["openvidu-bridge/%i"]
    assert bridge["KillSignal"] == ["SIGTERM"]
    env = dotenv(DEPLOY / "systemd" / "bridge.env.example")
    assert not {"BRIDGE_PORT", "BRIDGE_JOURNAL_DIR"} & set(env), "set per instance by the unit"
    settings = Settings.from_env({**env, "BRIDGE_JOURNAL_DIR": "/var/lib/openvidu-bridge/8081"})
    assert float(bridge["TimeoutStopSec"][0]) > settings.shutdown_grace + settings.drain_timeout
    haproxy = unit(DEPLOY / "systemd" / "haproxy.service.d" / "openvidu-bridge.conf")["Environment"]
    assert {"LB_BRIDGE_1=127.0.0.1:8081", "LB_BRIDGE_2=127.0.0.1:8082"} <= set(haproxy)
    consumer = unit(DEPLOY / "systemd" / "openvidu-consumer@.service")
    assert consumer["ExecStart"] == ["/opt/openvidu-bridge/bin/consumers run %i"]
