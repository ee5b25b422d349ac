"""The RAM policy grants exactly what the code calls: derived from the registry's API facts and
checked against every action the cloud-facing modules name in a client.call."""

import ast
import glob
import json
import os

from acme_aliyun import targets
from acme_aliyun.cloud import sdk

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLICY = os.path.join(ROOT, "deploy", "fc", "policy.json")
MODULES = glob.glob(os.path.join(ROOT, "acme_aliyun", "targets", "*.py")) + [
    os.path.join(ROOT, "acme_aliyun", "cloud", "alidns.py"), os.path.join(ROOT, "acme_aliyun", "deployer.py")]


def called_actions(path):
    """(product, action) of every client.call(product, action, ...) whose action is a literal, and the
    literal action names passed to helpers that call on a kind's behalf (class attributes *_action)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (getattr(node.func, "attr", "") == "call" or
                                           getattr(node.func, "id", "") == "_call") and len(node.args) >= 2:
            action = node.args[1]
            if isinstance(action, ast.Constant) and isinstance(action.value, str):
                found.add(action.value)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "").endswith("_action") for t in node.targets):
            if isinstance(node.value, ast.Constant):
                found.add(node.value.value)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "pages" or \
                getattr(getattr(node, "func", None), "attr", "") == "pages":
            literal = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            found.update(x for x in literal if x[:1].isupper() and x not in ("CertInfos", "CertInfo", "Domains",
                                                                               "PageData"))
    return found


def test_every_action_the_code_calls_is_in_the_api_facts():
    known = {a for p in sdk.PRODUCTS.values() for a in p.qps}
    called = set().union(*(called_actions(m) for m in MODULES))
    assert {"UploadUserCertificate", "SetCdnDomainSSLCertificate", "DescribeUserDomains",
            "SetDcdnDomainSSLCertificate", "AddDomainRecord"} <= called      # the scan sees them
    assert called - {"AssumeRole"} <= known, called - known


def test_every_action_in_the_api_facts_is_called_somewhere():
    called = set().union(*(called_actions(m) for m in MODULES))
    facts = {a for p in sdk.PRODUCTS.values() for a in p.qps}
    assert facts <= called, facts - called


def test_policy_grants_exactly_the_registered_actions():
    doc = json.load(open(POLICY, encoding="utf-8"))
    granted = [a for st in doc["Statement"] for a in st["Action"]]
    assert sorted(granted) == sorted(sdk.ram_actions())
    assert {"yundun-cert:UploadUserCertificate", "yundun-cert:ListUserCertificateOrder",
            "yundun-cert:GetUserCertificateDetail", "yundun-cert:DeleteUserCertificate"} <= set(granted)
    assert "cdn:DescribeCdnDomainDetail" not in granted          # nothing calls it


def test_each_kind_lists_its_ram_actions():
    for kind in targets.KINDS.values():
        assert kind.ram_actions() and all(a.startswith(kind.facts.ram + ":") for a in kind.ram_actions())
