"""Checks for the WAFv2 web ACL a regional REST API stage is associated with."""

from __future__ import annotations

import re
from typing import Optional

from aws_cdk import Token


def check_web_acl_arn(web_acl_arn: Optional[str]) -> None:
    """ValueError unless ``web_acl_arn`` is a regional WAFv2 web ACL's ARN (or a token)."""
    if web_acl_arn is None or Token.is_unresolved(web_acl_arn):
        return
    if not re.match(r"^arn:[a-z-]+:wafv2:[^:]*:[^:]*:[a-z]+/webacl/", web_acl_arn):
        raise ValueError(f"web_acl_arn must be a WAFv2 web ACL ARN, got {web_acl_arn!r}")
    if ":global/webacl/" in web_acl_arn:
        raise ValueError(
            f"web_acl_arn {web_acl_arn!r} is a CloudFront-scoped (global) web ACL; a regional REST API stage "
            "takes a REGIONAL web ACL of its own region"
        )
