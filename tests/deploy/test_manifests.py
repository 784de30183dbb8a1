"""deploy/: every file parses, what it references exists, and the configs it carries validate.

No Docker engine or cluster runs here, so this is as far as the checks go (deploy/README.md
says so)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import load, loads

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
ENV = {"BAYESGATE_API_KEY": "k", "BAYESGATE_ADMIN_KEY": "a", "OPENAI_API_KEY": "o"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


@pytest.mark.parametrize("path", sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")]),
                         ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert documents(path)


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip()
             and not line.lstrip().startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    for line in lines:
        if line.startswith("COPY "):
            sources = line.split()[1:-1]
            for source in sources:  # the build context is the repository root
                assert (ROOT / source).exists(), source
    user = next(line for line in reversed(lines) if line.startswith("USER "))
    assert user.split()[1] not in ("root", "0")
    assert re.search(r"HEALTHCHECK .*\n.*127\.0\.0\.1:8080/healthz", text)
    assert "LITELLM_LOCAL_MODEL_COST_MAP=True" in text
    assert "COPY deploy/gateway.yaml /etc/bayesgate/gateway.yaml" in text
    assert '"--config", "/etc/bayesgate/gateway.yaml"' in text
    assert (DEPLOY / "Dockerfile.dockerignore").exists()


def test_image_default_config_validates() -> None:
    config = load(DEPLOY / "gateway.yaml", env={})
    assert config.server.host == "0.0.0.0" and config.store.backend == "memory"
    assert config.logging.format == "json"
    shared = load(DEPLOY / "gateway.yaml", env={**ENV, "BAYESGATE_STORE_BACKEND": "redis"})
    assert shared.store.backend == "redis" and shared.server.admin_keys == {"ops": "a"}


def test_compose_has_redis_and_two_replicas_behind_one_port() -> None:
    compose = documents(DEPLOY / "docker-compose.yml")[0]
    services = compose["services"]
    assert "redis" in services
    replicas = [s for s in services.values() if "build" in s]
    assert len(replicas) == 2
    for service in replicas:
        context = (DEPLOY / service["build"]["context"]).resolve()
        assert context == ROOT
        assert (context / service["build"]["dockerfile"]).exists()
        assert service["environment"]["BAYESGATE_STORE_BACKEND"] == "redis"
        assert "redis" in service["depends_on"]
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert published == ["8080:8080"]
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source
    nginx = (DEPLOY / "nginx.conf").read_text()
    for name in (n for n, s in services.items() if "build" in s):
        assert f"server {name}:8080" in nginx
    assert "proxy_buffering off" in nginx


def _by_kind(kind: str, name: str) -> dict[str, Any]:
    for path in K8S.glob("*.yaml"):
        for doc in documents(path):
            if doc.get("kind") == kind and doc["metadata"]["name"] == name:
                return doc
    raise AssertionError(f"no {kind} named {name!r} in deploy/k8s")


def test_kustomization_lists_existing_files() -> None:
    kustomization = documents(K8S / "kustomization.yaml")[0]
    for resource in kustomization["resources"]:
        assert (K8S / resource).exists(), resource
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_sidecar_deployment() -> None:
    deployment = _by_kind("Deployment", "app")
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert len(containers) == 2
    sidecar, app = containers["bayesgate"], containers["app"]
    assert {"name": "OPENAI_BASE_URL", "value": "http://127.0.0.1:8080/v1"} in app["env"]
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert sidecar["securityContext"]["runAsNonRoot"] is True
    # the config volume is the ConfigMap, mounted where the image expects it
    volumes = {v["name"]: v for v in pod["volumes"]}
    mount = sidecar["volumeMounts"][0]
    assert mount["mountPath"] == "/etc/bayesgate"
    config_map = _by_kind("ConfigMap", volumes[mount["name"]]["configMap"]["name"])
    assert "gateway.yaml" in config_map["data"]
    assert "/etc/bayesgate/gateway.yaml" in sidecar["args"]
    # every Secret reference names a Secret and a key that exist
    secret_env = {}
    for container in containers.values():
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secret = _by_kind("Secret", ref["name"])
                assert ref["key"] in secret["stringData"], ref
                secret_env[env["name"]] = secret["stringData"][ref["key"]]
    # the ConfigMap's config validates with exactly the environment the sidecar gets
    sidecar_env = {e["name"]: secret_env.get(e["name"], e.get("value", ""))
                   for e in sidecar["env"]}
    config = loads(config_map["data"]["gateway.yaml"], env=sidecar_env)
    assert config.server.host == "0.0.0.0"  # probes come in on the pod IP
    assert config.server.port == sidecar["ports"][0]["containerPort"]
    assert config.store.backend == "redis"
    redis = _by_kind("Service", "bayesgate-redis")
    assert f"//{redis['metadata']['name']}:{redis['spec']['ports'][0]['port']}/" in \
        config.store.url
