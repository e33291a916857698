"""deploy/kubernetes: every manifest validates, kustomize renders them, and they fit together.

Built-in kinds are validated with kubernetes-validate (strict: a misspelt field fails) against the oldest and the
newest Kubernetes it knows. Custom resources (RabbitmqCluster, ScaledObject, TriggerAuthentication, PodMonitor,
PrometheusRule) are validated against the minimal schemas in deploy/schemas, and the Kubernetes types they embed
against Kubernetes' own.
No cluster is needed: what a cluster would add (admission, the operators) is checked by the cross-references below.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version, schema_contents

from consumers.notifier import notifier

ROOT = Path(__file__).resolve().parent.parent
DATABASE_VARIABLES = ("SESSIONS_DB", "CONSUMER_STORE")
KUSTOMIZATION = ROOT / "deploy" / "kubernetes"
SCHEMAS = ROOT / "deploy" / "schemas"
K8S_VERSIONS = ("1.29.0", latest_version())
CUSTOM_KINDS = {"RabbitmqCluster", "ScaledObject", "TriggerAuthentication", "PodMonitor", "PrometheusRule"}
SHIPPED_CONSUMERS = {"consumers.cdr:archive", "consumers.sessions:tracker", "consumers.notifier:notifier"}

Doc = dict[str, Any]


def kustomization() -> Doc:
    spec: Doc = yaml.safe_load((KUSTOMIZATION / "kustomization.yaml").read_text())
    return spec


def manifests() -> Iterator[tuple[str, Doc]]:
    """What kustomize would render, before its transformations: every object of every listed resource file."""
    for resource in kustomization()["resources"]:
        for doc in yaml.safe_load_all((KUSTOMIZATION / resource).read_text()):
            if doc is not None:
                yield resource, doc


def objects() -> dict[tuple[str, str], Doc]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in manifests()}


def one(kind: str, name: str) -> Doc:
    return objects()[(kind, name)]


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def env(container: Doc) -> dict[str, Doc]:
    return {var["name"]: var for var in container.get("env", [])}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


# --- validation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "doc"), list(manifests()), ids=[f"{r}:{d['kind']}/{d['metadata']['name']}" for r, d in manifests()]
)
def test_manifest_validates(resource: str, doc: Doc) -> None:
    if doc["kind"] in CUSTOM_KINDS:
        schema = json.loads((SCHEMAS / f"{doc['kind'].lower()}.{doc['apiVersion'].replace('/', '-')}.json").read_text())
        jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    else:
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def kubernetes_type(name: str) -> Doc:
    definitions = schema_contents(f"kubernetes-json-schema/v{latest_version()}-local-strict/_definitions.json", "")
    return {**definitions, "$ref": f"#/$defs/io.k8s.api.core.v1.{name}"}


def test_kubernetes_types_inside_custom_resources_validate() -> None:
    rabbitmq = one("RabbitmqCluster", "rabbitmq")["spec"]
    for field, kind in [("resources", "ResourceRequirements"), ("affinity", "Affinity")]:
        jsonschema.Draft202012Validator(kubernetes_type(kind)).validate(rabbitmq[field])  # no meta-check: 1.5 MB


def test_the_custom_resource_schemas_catch_a_misspelt_field() -> None:
    doc = one("ScaledObject", "openvidu-consumer-notifier")
    schema = json.loads((SCHEMAS / "scaledobject.keda.sh-v1alpha1.json").read_text())
    with pytest.raises(jsonschema.ValidationError, match="minReplicas"):
        jsonschema.validate({**doc, "spec": {**doc["spec"], "minReplicas": 1}}, schema)


def test_kustomize_renders_every_manifest_into_the_namespace() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        message = "kubectl (with its built-in kustomize) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        [kubectl, "kustomize", str(KUSTOMIZATION)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert {(d["kind"], d["metadata"]["name"]) for d in rendered} == set(objects())
    namespace = kustomization()["namespace"]
    for doc in rendered:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, doc["metadata"]
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            assert container["image"] == "openvidu-webhook-bridge:" + kustomization()["images"][0]["newTag"]


# --- how the pieces fit -------------------------------------------------------------------------------------


def test_bridge_is_a_statefulset_with_a_journal_claim_per_pod_and_time_to_drain() -> None:
    bridge = one("StatefulSet", "openvidu-bridge")
    spec, pod = bridge["spec"], pod_spec(bridge)
    (container,) = pod["containers"]
    (claim,) = spec["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    variables = env(container)
    assert variables["BRIDGE_JOURNAL_DIR"]["value"].startswith(mounts[claim["metadata"]["name"]] + "/")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    grace, drain = (float(variables[n]["value"]) for n in ("BRIDGE_SHUTDOWN_GRACE", "BRIDGE_DRAIN_TIMEOUT"))
    assert pod["terminationGracePeriodSeconds"] > grace + drain
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["args"] == ["bridge"]
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    assert {"secretRef": {"name": "openvidu-bridge-secrets"}} in container["envFrom"]  # the webhook header
    assert one("Service", spec["serviceName"])["spec"]["clusterIP"] == "None"


def workloads() -> list[Doc]:
    return [doc for (kind, _), doc in objects().items() if kind in ("StatefulSet", "Deployment")]


def test_every_pod_runs_non_root_on_a_read_only_root_filesystem() -> None:
    for workload in workloads():
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            writable = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/data", "/tmp"} <= writable, workload["metadata"]["name"]


def test_bridge_service_autoscaler_and_disruption_budget_target_the_bridge_pods() -> None:
    bridge = one("StatefulSet", "openvidu-bridge")
    labels = bridge["spec"]["template"]["metadata"]["labels"]
    service = one("Service", "openvidu-bridge")
    assert selects(service["spec"]["selector"], labels)
    hpa = one("HorizontalPodAutoscaler", "openvidu-bridge")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "openvidu-bridge"}
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
    pdb = one("PodDisruptionBudget", "openvidu-bridge")["spec"]
    assert selects(pdb["selector"]["matchLabels"], labels)
    assert pdb["maxUnavailable"] == 1


def test_rabbitmq_is_a_three_node_cluster_whose_generated_credentials_the_pods_use() -> None:
    cluster = one("RabbitmqCluster", "rabbitmq")
    assert cluster["spec"]["replicas"] == 3
    assert "rabbitmq_consistent_hash_exchange" in cluster["spec"]["rabbitmq"]["additionalPlugins"]
    secret = f"{cluster['metadata']['name']}-default-user"  # the Secret the Cluster Operator creates
    for workload in workloads():
        (container,) = pod_spec(workload)["containers"]
        variables = env(container)
        refs = {
            n: v["valueFrom"]["secretKeyRef"]
            for n, v in variables.items()
            if "secretKeyRef" in v.get("valueFrom", {}) and n not in DATABASE_VARIABLES  # their own Secret
        }
        assert {r["name"] for r in refs.values()} == {secret}
        assert {r["key"] for r in refs.values()} <= {"username", "password", "host", "port"}
        url = variables["RABBITMQ_URL"]["value"]
        assert re.fullmatch(r"amqp://\$\(RABBITMQ_USER\):\$\(RABBITMQ_PASSWORD\)@(\S+):5672/", url)
        assert url.split("@")[1].startswith(cluster["metadata"]["name"] + ":")
        names = list(variables)
        assert names.index("RABBITMQ_URL") > max(names.index(n) for n in refs)  # $(VAR) needs VAR defined before


def test_consumers_run_the_shipped_import_strings_and_the_stateful_ones_stay_single() -> None:
    consumers = [w for w in workloads() if w["kind"] == "Deployment"]
    args = {pod_spec(w)["containers"][0]["args"][2]: w for w in consumers}
    assert set(args) == SHIPPED_CONSUMERS
    for target in ("consumers.cdr:archive", "consumers.sessions:tracker"):  # they lock local files
        deployment = args[target]
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        (claim,) = [v for v in pod_spec(deployment)["volumes"] if "persistentVolumeClaim" in v]
        assert ("PersistentVolumeClaim", claim["persistentVolumeClaim"]["claimName"]) in objects()


def test_the_tracker_and_the_notifiers_store_read_a_postgresql_url_from_a_secret_else_keep_sqlite() -> None:
    consumers = [w for w in workloads() if w["kind"] == "Deployment"]
    containers = {pod_spec(w)["containers"][0]["args"][2]: pod_spec(w)["containers"][0] for w in consumers}
    for target, variable in (
        ("consumers.sessions:tracker", "SESSIONS_DB"),
        ("consumers.notifier:notifier", "CONSUMER_STORE"),
    ):
        (entry,) = [e for e in containers[target]["env"] if e["name"] == variable]
        assert "value" not in entry  # a password in a URL belongs in a Secret
        assert entry["valueFrom"]["secretKeyRef"] == {
            "name": "openvidu-bridge-postgres",
            "key": "url",
            "optional": True,
        }
    # Without the Secret the variable is unset and the image's default applies: a file on the pod's volume.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "SESSIONS_DB=/data/sessions.sqlite3" in dockerfile
    assert "CONSUMER_STATE_DIR=/data/state" in dockerfile


def test_keda_scales_the_notifier_on_its_queue_with_credentials_from_the_operator() -> None:
    scaled = one("ScaledObject", "openvidu-consumer-notifier")["spec"]
    target = one(scaled["scaleTargetRef"]["kind"], scaled["scaleTargetRef"]["name"])
    assert pod_spec(target)["containers"][0]["args"][2] == "consumers.notifier:notifier"
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "rabbitmq"
    metadata = trigger["metadata"]
    assert metadata["mode"] == "QueueLength"
    assert float(metadata["value"]) > 0
    assert metadata["protocol"] == "http"  # counts messages in hand (unacked) too
    assert metadata["host"] == f"http://rabbitmq.{kustomization()['namespace']}.svc:15672/"
    auth = one("TriggerAuthentication", trigger["authenticationRef"]["name"])["spec"]["secretTargetRef"]
    assert {(r["parameter"], r["name"], r["key"]) for r in auth} == {
        ("username", "rabbitmq-default-user", "username"),
        ("password", "rabbitmq-default-user", "password"),
    }
    assert scaled["minReplicaCount"] >= 1


def test_scaled_queue_is_the_one_the_notifier_consumes() -> None:
    (trigger,) = one("ScaledObject", "openvidu-consumer-notifier")["spec"]["triggers"]
    assert trigger["metadata"]["queueName"] == notifier.name


def test_network_policies_admit_only_the_ingress_controller_to_the_bridge_and_only_clients_to_rabbitmq() -> None:
    policies = {name: doc["spec"] for (kind, name), doc in objects().items() if kind == "NetworkPolicy"}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    bridge_labels = one("StatefulSet", "openvidu-bridge")["spec"]["template"]["metadata"]["labels"]
    (rule,) = policies["openvidu-bridge"]["ingress"]
    assert selects(policies["openvidu-bridge"]["podSelector"]["matchLabels"], bridge_labels)
    assert [peer["namespaceSelector"]["matchLabels"] for peer in rule["from"]] == [
        {"kubernetes.io/metadata.name": "ingress-nginx"}
    ]
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]

    amqp = [r for r in policies["rabbitmq"]["ingress"] if {"port": 5672, "protocol": "TCP"} in r.get("ports", [])]
    (client_rule,) = amqp
    (peer,) = client_rule["from"]
    client_label = peer["podSelector"]["matchLabels"]
    for workload in workloads():  # the bridge and every consumer carry the label; nothing else here does
        assert selects(client_label, workload["spec"]["template"]["metadata"]["labels"])
    assert selects(policies["rabbitmq"]["podSelector"]["matchLabels"], {"app.kubernetes.io/name": "rabbitmq"})


def test_ingress_terminates_tls_and_sends_the_webhook_path_to_the_bridge_service() -> None:
    ingress = one("Ingress", "openvidu-bridge")
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] in ingress["spec"]["tls"][0]["hosts"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/webhook"
    backend = path["backend"]["service"]
    service = one("Service", backend["name"])
    assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
    assert "non_idempotent" in ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-next-upstream"]
