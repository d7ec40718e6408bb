"""The CloudFront stand-in finds distributions whose origin is a bucket of the run, and only those."""

from __future__ import annotations

from patterns.local.cdn import build_cdns
from patterns.local.model import LocalEnvironment, LocalStack


def stack(domain: dict | str) -> LocalStack:
    template = {
        "Resources": {
            "Photos": {"Type": "AWS::S3::Bucket"},
            "Headers": {
                "Type": "AWS::CloudFront::ResponseHeadersPolicy",
                "Properties": {
                    "ResponseHeadersPolicyConfig": {
                        "SecurityHeadersConfig": {
                            "StrictTransportSecurity": {
                                "AccessControlMaxAgeSec": 600,
                                "IncludeSubdomains": True,
                                "Override": True,
                            },
                            "ContentTypeOptions": {"Override": True},
                            "FrameOptions": {"FrameOption": "SAMEORIGIN", "Override": True},
                        }
                    }
                },
            },
            "Cdn": {
                "Type": "AWS::CloudFront::Distribution",
                "Properties": {
                    "DistributionConfig": {
                        "DefaultCacheBehavior": {"TargetOriginId": "o1", "ResponseHeadersPolicyId": {"Ref": "Headers"}},
                        "Origins": [{"Id": "o1", "DomainName": domain}],
                    }
                },
            },
        }
    }
    return LocalStack(
        name="S",
        template=template,
        refs={"Photos": "s-photos"},
        attributes={("Photos", "RegionalDomainName"): "s-photos.s3.us-east-1.amazonaws.com"},
        functions={},
        event_sources=[],
        user_pools={},
    )


def environment(*stacks: LocalStack) -> LocalEnvironment:
    return LocalEnvironment(endpoint="http://127.0.0.1:1", region="us-east-1", stacks=list(stacks))


def test_a_bucket_origin_is_served_with_the_policys_security_headers():
    (cdn,) = build_cdns(environment(stack({"Fn::GetAtt": ["Photos", "RegionalDomainName"]})))
    assert (cdn.stack, cdn.logical_id, cdn.bucket) == ("S", "Cdn", "s-photos")
    assert cdn.headers == {
        "Strict-Transport-Security": "max-age=600; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "SAMEORIGIN",
    }


def test_other_origins_and_unresolvable_ones_get_no_stand_in():
    assert build_cdns(environment(stack("example.com"))) == []
    assert build_cdns(environment(stack({"Fn::GetAtt": ["Elsewhere", "DomainName"]}))) == []
