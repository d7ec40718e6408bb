"""ObjectPipeline under the strict compliance profile: clean under all six rule sets with a custom domain and
without, env-agnostic and env-bound; every acknowledgement silences a finding; the objects key and its grants."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Environment, RemovalPolicy, Stack
from aws_cdk import aws_certificatemanager as acm
from nag_check import acknowledgements_made, acknowledgements_used
from strict_check import RULE_SETS, findings_under, strict_app, synth_findings

from patterns import ObjectPipeline, route_alarms


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("strict-objects")
    app = strict_app(outdir)
    agnostic = Stack(app, "Agnostic")
    ObjectPipeline(agnostic, "Images", removal_policy=RemovalPolicy.DESTROY)
    bound = Stack(app, "Bound", env=Environment(account="123456789012", region="eu-west-1"))
    ObjectPipeline(
        bound,
        "Images",
        domain_names=["img.example.com"],
        certificate=acm.Certificate.from_certificate_arn(
            bound, "Cert", "arn:aws:acm:us-east-1:123456789012:certificate/a"
        ),
    )
    route_alarms(app)
    return outdir, synth_findings(app)


@pytest.mark.parametrize("stack", ["Agnostic", "Bound"])
def test_clean_under_every_rule_set(synthesized, stack):
    _, findings = synthesized
    # Construct annotations (warnings) join the report as a plugin of their own; the rule sets are the others.
    assert set(RULE_SETS) <= set(findings)
    rule_sets = {name: found for name, found in findings.items() if name in RULE_SETS}
    assert findings_under(rule_sets, f"{stack}/") == []


def test_every_acknowledgement_silences_a_finding(synthesized):
    outdir, _ = synthesized
    assert acknowledgements_made(outdir) - acknowledgements_used(outdir) == set()


def test_a_custom_domain_needs_no_certificate_acknowledgement(synthesized):
    outdir, _ = synthesized
    bound = {ack for path, ack in acknowledgements_made(outdir, "Bound") if "Delivery/Distribution" in path}
    assert not [ack for ack in bound if "ssl_certificate" in ack or "sni" in ack or "CFR4" in ack]
    agnostic = {ack for path, ack in acknowledgements_made(outdir, "Agnostic") if "Delivery/Distribution" in path}
    assert "cdk-validator-cfnguard::cloudfront_sni_enabled_check" in agnostic


def test_buckets_use_the_rotating_objects_key_and_the_functions_may_use_it(synthesized):
    outdir, _ = synthesized
    template = json.loads((outdir / "Agnostic.template.json").read_text())
    resources = template["Resources"]
    (key_id,) = [k for k, v in resources.items() if v["Type"] == "AWS::KMS::Key" and k.startswith("ImagesObjectsKey")]
    assert resources[key_id]["Properties"]["EnableKeyRotation"] is True
    for prefix in ("ImagesUploads", "ImagesRenditions"):
        (bucket,) = [v for k, v in resources.items() if v["Type"] == "AWS::S3::Bucket" and k.startswith(prefix)]
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert rule["BucketKeyEnabled"] is True
    key_statements = {
        logical_id: [
            s
            for s in r["Properties"]["PolicyDocument"]["Statement"]
            if s["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
        ]
        for logical_id, r in resources.items()
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
    }
    actions = {
        logical_id: sorted(a for s in found for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
        for logical_id, found in key_statements.items()
        if found
    }
    assert sorted(actions.values()) == [["kms:Decrypt", "kms:GenerateDataKey"], ["kms:GenerateDataKey"]]


def test_the_cdks_notifications_handler_reserves_one_execution(synthesized):
    outdir, _ = synthesized
    resources = json.loads((outdir / "Agnostic.template.json").read_text())["Resources"]
    (handler,) = [
        v
        for k, v in resources.items()
        if k.startswith("BucketNotificationsHandler") and v["Type"] == "AWS::Lambda::Function"
    ]
    assert handler["Properties"]["ReservedConcurrentExecutions"] == 1
