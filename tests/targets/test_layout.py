"""Issue 11 acceptance 6: the deployer names no product; the cloud layer imports nothing from targets."""

import os
import re

from acme_aliyun import targets
from acme_aliyun.cloud import sdk

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as fh:
        return fh.read()


def test_deployer_names_no_product():
    text = read("acme_aliyun", "deployer.py")
    products = set(targets.KINDS) | {k.ini_key for k in targets.KINDS.values()} | {
        p.key for p in sdk.PRODUCTS.values()} | {p.code for p in sdk.PRODUCTS.values()} | {
        "cas", "SSL Certificates Service", "API Gateway", "alidns", "CloudAPI"}
    named = sorted(p for p in products if re.search(r"(?<![A-Za-z])%s(?![A-Za-z])" % re.escape(p), text, re.I))
    assert named == []


def test_cloud_layer_never_imports_targets():
    for name in os.listdir(os.path.join(ROOT, "acme_aliyun", "cloud")):
        if name.endswith(".py"):
            assert "acme_aliyun.targets" not in read("acme_aliyun", "cloud", name), name


def test_config_has_no_per_product_code():
    text = read("acme_aliyun", "config.py")
    for kind in targets.KINDS.values():
        assert '"%s"' % kind.ini_key not in text and '"%s"' % kind.endpoint_key not in text
