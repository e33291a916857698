"""deploy/monitoring: the alert rules pass promtool's checks and unit tests, and everything they and the dashboard
read is something the bridge, the consumers or Prometheus exports, in compose and in Kubernetes alike."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import yaml

from bridge.metrics import Metrics
from consumers.metrics import ConsumerMetrics
from tests.test_deploy import compose, run, tool
from tests.test_deploy_kubernetes import objects, pod_spec, selects

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "deploy" / "monitoring"
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}


def exported() -> set[str]:
    registries = [Metrics().registry, ConsumerMetrics().registry]
    return {f.name + suffix for r in registries for f in r.collect() for suffix in SUFFIXES[f.type]} | {"up"}


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", expr)
    words = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", without_labels))
    return {w for w in words if w.startswith(("bridge_", "consumer_")) or w == "up"}


def test_promtool_checks_the_rules_and_the_prometheus_configuration() -> None:
    promtool = tool("promtool")
    run(promtool, "check", "rules", str(MONITORING / "alerts.yml"))
    result = run(promtool, "check", "config", str(MONITORING / "prometheus.yml"))
    assert "1 rule files found" in result.stdout


def test_promtool_unit_tests_fire_every_alert_and_keep_healthy_inputs_quiet() -> None:
    result = run(tool("promtool"), "test", "rules", str(MONITORING / "alerts.test.yml"))
    assert "SUCCESS" in result.stdout
    cases = yaml.safe_load((MONITORING / "alerts.test.yml").read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    fired = {check["alertname"] for check in checks if check["exp_alerts"]}
    assert fired == {rule["alert"] for rule in alert_rules()}, "every alert has an input that fires it"


def test_the_rules_read_only_metrics_that_are_exported() -> None:
    used = {name for rule in alert_rules() for name in metric_names(rule["expr"])}
    assert used <= exported(), used - exported()
    jobs = {job for rule in alert_rules() for job in re.findall(r'job="([^"]+)"', rule["expr"])}
    scraped = {job["job_name"] for job in yaml.safe_load((MONITORING / "prometheus.yml").read_text())["scrape_configs"]}
    assert jobs == {"bridge", "consumers"} <= scraped


def test_compose_prometheus_loads_the_rules_and_scrapes_each_consumer_on_its_metrics_port() -> None:
    services = compose()["services"]
    assert "./deploy/monitoring/alerts.yml:/etc/prometheus/alerts.yml:ro" in services["prometheus"]["volumes"]
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "consumers"]
    targets = set(job["static_configs"][0]["targets"]) | {
        f"{n}:{c['port']}" for c in job["dns_sd_configs"] for n in c["names"]
    }
    consumers = {name: s for name, s in services.items() if s.get("command", [None])[0] == "consumers"}
    assert targets == {f"{name}:{s['environment']['CONSUMER_METRICS_PORT']}" for name, s in consumers.items()}
    assert all(s["expose"] == [s["environment"]["CONSUMER_METRICS_PORT"]] for s in consumers.values())


def test_the_dashboard_has_a_consumers_row_and_a_queues_row_charting_exported_metrics() -> None:
    dashboard = orjson.loads((MONITORING / "grafana" / "dashboards" / "openvidu-bridge.json").read_bytes())
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert "Consumers" in rows
    assert "Queues (RabbitMQ)" in rows
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {name for query in queries for name in metric_names(query)}
    assert {"consumer_messages_total", "consumer_handler_seconds_bucket", "consumer_queue_messages"} <= used
    assert used <= exported(), used - exported()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_kubernetes_carries_the_same_rules_as_a_prometheus_rule() -> None:
    rule = objects()[("PrometheusRule", "openvidu-webhook-bridge")]
    assert rule["spec"]["groups"] == yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]


def test_kubernetes_pod_monitors_scrape_the_ports_the_pods_name_under_the_jobs_the_rules_use() -> None:
    workloads = [doc for (kind, _), doc in objects().items() if kind in ("StatefulSet", "Deployment")]
    for job, monitor in [("bridge", "openvidu-bridge"), ("consumers", "openvidu-consumers")]:
        spec = objects()[("PodMonitor", monitor)]["spec"]
        (endpoint,) = spec["podMetricsEndpoints"]
        assert {"targetLabel": "job", "replacement": job} in endpoint["relabelings"]
        selected = [
            w
            for w in workloads
            if selects(spec["selector"]["matchLabels"], w["spec"]["template"]["metadata"]["labels"])
        ]
        assert selected, monitor
        for workload in selected:
            (container,) = pod_spec(workload)["containers"]
            assert endpoint["port"] in {port["name"] for port in container.get("ports", [])}, workload["metadata"][
                "name"
            ]
    policy = objects()[("NetworkPolicy", "prometheus-scrape")]["spec"]
    (rule,) = policy["ingress"]
    assert {p["port"] for p in rule["ports"]} >= {8080, 9464}
