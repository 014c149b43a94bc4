"""deploy/kubernetes/: every manifest valid for pinned Kubernetes versions (kubernetes-validate's
bundled schemas, strict: no unknown field), and consistent with itself and with ``hatbot serve``.
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hatbot.cli import build_parser
from hatbot.server.health import SERVICE_NAME

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
#: The oldest version with native gRPC probes (GA in 1.27) and the newest the pinned
#: kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.27.0", "1.37.0")
#: Applied on its own, when an operator copies a model version in.
OUTSIDE_KUSTOMIZATION = {"model-shell.yaml"}

Doc = dict[str, Any]


def documents() -> dict[str, Doc]:
    """Every manifest by ``KIND/NAME``."""
    found: dict[str, Doc] = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text("utf-8")):
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


DOCS = documents()
DEPLOYMENT = DOCS["Deployment/hatbot"]
POD = DEPLOYMENT["spec"]["template"]
CONTAINER = POD["spec"]["containers"][0]


def serve_args() -> argparse.Namespace:
    """The container's command and args as the real ``hatbot serve`` parser reads them."""
    command = CONTAINER["command"]
    assert command == ["hatbot", "serve"], command
    try:
        return build_parser().parse_args([*command[1:], *CONTAINER["args"]])
    except SystemExit as error:  # argparse has printed the reason
        raise AssertionError(f"hatbot serve refuses the Deployment's args: {error}") from None


def test_the_deployment_spells_every_option_in_full() -> None:
    """argparse takes a unique prefix (--drain-dela): one that a later option makes ambiguous
    would stop every pod from starting."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    known = commands.choices["serve"]._option_string_actions
    for arg in CONTAINER["args"]:
        if arg.startswith("-"):
            assert arg.split("=")[0] in known, f"{arg}: not a hatbot serve option as spelt"


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def port(name: str) -> int:
    """The container port called ``name``."""
    ports = {entry["name"]: entry["containerPort"] for entry in CONTAINER["ports"]}
    return int(ports[name])


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_manifest_is_valid(name: str, version: str) -> None:
    kubernetes_validate.validate(DOCS[name], version, strict=True)


def test_the_validation_catches_mistakes() -> None:
    """The schemas are really applied: a wrong type and a misspelt field are refused."""
    wrong_type = copy.deepcopy(DEPLOYMENT)
    probe = wrong_type["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["grpc"]["port"] = "grpc"
    misspelt = copy.deepcopy(DEPLOYMENT)
    misspelt["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    for broken in (wrong_type, misspelt):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text("utf-8"))
    files = {path.name for path in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files - OUTSIDE_KUSTOMIZATION
    assert [image["name"] for image in kustomization["images"]] == [
        CONTAINER["image"].split(":")[0]
    ]


def test_the_deployment_args_are_what_hatbot_serve_parses() -> None:
    args = serve_args()
    assert args.command == "serve"
    assert args.host == "0.0.0.0"
    assert (args.port, args.http_port, args.metrics_port) == (
        port("grpc"),
        port("http"),
        port("metrics"),
    )
    assert args.log_format == "json"
    assert args.poll is not None, "without --poll a new version waits for a SIGHUP"
    # Each worker is one core: as many workers as whole CPUs requested, and the limit equal.
    resources = CONTAINER["resources"]
    assert float(resources["requests"]["cpu"]) == args.workers
    assert resources["requests"] == resources["limits"], "Guaranteed QoS"


def test_the_model_root_is_the_read_only_volume() -> None:
    args = serve_args()
    mounts = {mount["mountPath"]: mount for mount in CONTAINER["volumeMounts"]}
    mount = mounts[str(args.model_root)]
    assert mount["readOnly"] is True
    volumes = {volume["name"]: volume for volume in POD["spec"]["volumes"]}
    claim = volumes[mount["name"]]["persistentVolumeClaim"]
    assert claim["readOnly"] is True
    assert f"PersistentVolumeClaim/{claim['claimName']}" in DOCS
    shell = DOCS["Pod/hatbot-model-shell"]["spec"]
    shell_claims = [v["persistentVolumeClaim"]["claimName"] for v in shell["volumes"]]
    assert shell_claims == [claim["claimName"]]


def test_the_probes_ask_grpc_health_what_each_means() -> None:
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert CONTAINER[kind]["grpc"]["port"] == port("grpc") == serve_args().port, kind
    # Ready: the game service answers. Alive and started: the server as a whole.
    assert CONTAINER["readinessProbe"]["grpc"]["service"] == SERVICE_NAME
    assert CONTAINER["livenessProbe"]["grpc"]["service"] == ""
    assert CONTAINER["startupProbe"]["grpc"]["service"] == ""
    args = serve_args()
    liveness = CONTAINER["livenessProbe"]
    # A drain reports NOT_SERVING to everything: it must end before liveness gives up.
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > args.drain_delay + args.grace
    startup = CONTAINER["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, "loading a model"


def test_termination_leaves_room_for_the_drain() -> None:
    args = serve_args()
    assert args.drain_delay > 0, "without a drain delay, balancers send to a stopping pod"
    pre_stop = CONTAINER.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace_period = POD["spec"]["terminationGracePeriodSeconds"]
    assert grace_period >= pre_stop + args.drain_delay + args.grace


def test_the_pod_runs_unprivileged_on_a_read_only_root() -> None:
    pod, container = POD["spec"]["securityContext"], CONTAINER["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]
    # The image's user: the Dockerfile creates it with this uid.
    uids = re.findall(r"--uid (\d+)", (ROOT / "Dockerfile").read_text("utf-8"))
    assert {int(uid) for uid in uids} == {pod["runAsUser"]}, uids
    # The metrics' multiprocess files go to /tmp, a writable emptyDir.
    assert "/tmp" in {mount["mountPath"] for mount in CONTAINER["volumeMounts"]}


def test_prometheus_finds_the_metrics_port() -> None:
    annotations = POD["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == serve_args().metrics_port
    assert annotations["prometheus.io/path"] == "/metrics"


def test_selectors_match_the_pods_and_only_them() -> None:
    labels = POD["metadata"]["labels"]
    assert selects(DEPLOYMENT["spec"]["selector"]["matchLabels"], labels)
    shell_labels = DOCS["Pod/hatbot-model-shell"]["metadata"]["labels"]
    for name in ("Service/hatbot", "Service/hatbot-headless"):
        service = DOCS[name]["spec"]
        assert selects(service["selector"], labels), name
        assert not selects(service["selector"], shell_labels), f"{name} selects the shell"
        for entry in service["ports"]:
            assert entry["targetPort"] in {p["name"] for p in CONTAINER["ports"]}, entry
    pdb = DOCS["PodDisruptionBudget/hatbot"]["spec"]
    assert selects(pdb["selector"]["matchLabels"], labels)
    assert not selects(pdb["selector"]["matchLabels"], shell_labels)


def test_the_services_balance_two_ways() -> None:
    headless, virtual = DOCS["Service/hatbot-headless"]["spec"], DOCS["Service/hatbot"]["spec"]
    assert headless["clusterIP"] == "None"
    assert headless.get("publishNotReadyAddresses", False) is False
    assert virtual["type"] == "ClusterIP"
    assert "clusterIP" not in virtual
    grpc_port = next(p for p in headless["ports"] if p["name"] == "grpc")
    assert grpc_port["appProtocol"] == "kubernetes.io/h2c"


def test_the_autoscaler_and_the_budget_keep_replicas_serving() -> None:
    hpa = DOCS["HorizontalPodAutoscaler/hatbot"]["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        DEPLOYMENT["apiVersion"],
        DEPLOYMENT["kind"],
        DEPLOYMENT["metadata"]["name"],
    )
    assert [metric["resource"]["name"] for metric in hpa["metrics"]] == ["cpu"]
    assert "replicas" not in DEPLOYMENT["spec"], "the autoscaler owns the replica count"
    pdb = DOCS["PodDisruptionBudget/hatbot"]["spec"]
    assert pdb["maxUnavailable"] < hpa["minReplicas"]
    rolling = DEPLOYMENT["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0, "a rollout adds a pod before it removes one"
