"""The deploy files for a RabbitMQ cluster: docker-compose.cluster.yml with deploy/rabbitmq/cluster.conf, the
systemd examples' address list, and what the Kubernetes manifests give the bridge and the consumers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bridge import addresses
from bridge.settings import Settings
from consumers.settings import Settings as ConsumerSettings
from tests.test_deploy import ROOT, bridges, compose, dotenv, interpolate, run, tool
from tests.test_deploy_kubernetes import one, pod_spec, workloads

CLUSTER_CONF = ROOT / "deploy" / "rabbitmq" / "cluster.conf"


def cluster_compose() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())
    return spec


def merged() -> dict[str, Any]:
    """docker compose -f docker-compose.yml -f docker-compose.cluster.yml: maps merge, the rest is replaced."""

    def merge(base: Any, override: Any) -> Any:
        if isinstance(base, dict) and isinstance(override, dict):
            return {**base, **{key: merge(base.get(key), value) for key, value in override.items()}}
        return override

    result: dict[str, Any] = merge(compose(), cluster_compose())
    return result


def nodes(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if str(s.get("image", "")).startswith("rabbitmq:")}


def conf(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return {key.strip(): value.strip() for key, _, value in (line.partition("=") for line in lines)}


def test_cluster_compose_file_follows_the_compose_specification() -> None:
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.cluster.yml")


def test_three_nodes_each_with_a_fixed_hostname_a_volume_and_the_cluster_config() -> None:
    spec = merged()
    cluster = nodes(spec["services"])
    assert sorted(s["hostname"] for s in cluster.values()) == ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"]
    data = [next(v.split(":")[0] for v in s["volumes"] if v.endswith(":/var/lib/rabbitmq")) for s in cluster.values()]
    assert len(set(data)) == 3
    assert set(data) <= set(spec["volumes"])
    for service in cluster.values():
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        assert mounts["/etc/rabbitmq/conf.d/20-cluster.conf"] == "./deploy/rabbitmq/cluster.conf"
        assert "rabbitmq_consistent_hash_exchange" in (ROOT / mounts["/etc/rabbitmq/enabled_plugins"]).read_text()
        assert service["image"] == compose()["services"]["rabbitmq"]["image"]
        assert service["healthcheck"]["test"][0] == "CMD"
    cookies = {s["environment"]["RABBITMQ_ERLANG_COOKIE"] for s in cluster.values()}
    assert len(cookies) == 1  # one cookie, or the nodes cannot talk
    assert all("RABBITMQ_ERLANG_COOKIE" in " ".join(s["entrypoint"]) for s in cluster.values())


def test_classic_peer_discovery_names_exactly_the_three_nodes_and_a_minority_pauses() -> None:
    settings = conf(CLUSTER_CONF)
    assert settings["cluster_formation.peer_discovery_backend"] == "classic_config"
    listed = {v for k, v in settings.items() if k.startswith("cluster_formation.classic_config.nodes.")}
    hostnames = {s["hostname"] for s in nodes(merged()["services"]).values()}
    assert listed == {f"rabbit@{hostname}" for hostname in hostnames}
    assert settings["cluster_partition_handling"] == "pause_minority"


def test_every_bridge_and_consumer_gets_the_three_node_addresses() -> None:
    spec = merged()
    example = dotenv(ROOT / ".env.example")
    cluster = nodes(spec["services"])
    # Containers find each other by service name or network alias (a hostname is only the node's own name).
    dns = {name: {name, *s.get("networks", {}).get("default", {}).get("aliases", [])} for name, s in cluster.items()}
    clients = {n: s for n, s in spec["services"].items() if "RABBITMQ_URL" in s.get("environment", {})}
    assert set(clients) == {"bridge-1", "bridge-2", "cdr", "sessions", "notifier"}
    for name, service in clients.items():
        env = {key: interpolate(str(value), example) for key, value in service["environment"].items()}
        urls = addresses.parse(env["RABBITMQ_URL"])
        hosts = {addresses.node(url).removesuffix(":5672") for url in urls}
        assert len(hosts) == 3, name
        assert all(len(hosts & names) == 1 for names in dns.values()), (name, hosts)  # each node, once
        if name in bridges(spec["services"]):
            assert Settings.from_env(env).rabbitmq_url == env["RABBITMQ_URL"]
        else:
            assert ConsumerSettings.from_env(env).rabbitmq_url == env["RABBITMQ_URL"]
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"


def test_the_systemd_examples_show_the_address_list_form_and_it_is_valid() -> None:
    for name in ("bridge.env.example", "consumers.env.example"):
        text = (ROOT / "deploy" / "systemd" / name).read_text()
        (listed,) = re.findall(r"^#RABBITMQ_URL=(.+)$", text, re.MULTILINE)
        assert len(addresses.parse(listed)) == 3


def test_kubernetes_gives_every_pod_the_service_address_of_the_three_node_cluster() -> None:
    cluster = one("RabbitmqCluster", "rabbitmq")
    assert cluster["spec"]["replicas"] == 3
    assert "cluster_partition_handling = pause_minority" in cluster["spec"]["rabbitmq"]["additionalConfig"]
    version = re.match(r"rabbitmq:(\d+)\.(\d+)", cluster["spec"]["image"])
    assert version is not None
    assert (int(version[1]), int(version[2])) >= (3, 10)  # quorum queues with TTL and dead-lettering: every queue
    for workload in workloads():
        (container,) = pod_spec(workload)["containers"]
        url = next(v["value"] for v in container["env"] if v["name"] == "RABBITMQ_URL")
        (only,) = addresses.parse(url)  # one address: the Service, which Kubernetes balances over the nodes
        assert addresses.node(only) == "rabbitmq:5672"


def test_kubernetes_drains_take_one_rabbitmq_node_at_a_time() -> None:
    pdb = one("PodDisruptionBudget", "rabbitmq")["spec"]
    assert pdb["maxUnavailable"] == 1
    # The labels the Cluster Operator puts on the pods of the RabbitmqCluster named `rabbitmq`.
    assert pdb["selector"]["matchLabels"] == {"app.kubernetes.io/name": "rabbitmq"}
