"""The items API in two regions over one DynamoDB global table, behind one name that follows latency and health.

Context (``cdk synth -c key=value``), each with its default:

* ``globalItemsDemo:regions``: two regions, comma-separated; the first holds the table. ``us-east-1,eu-west-1``.
* ``globalItemsDemo:account``: the account of both stacks. Default: the CLI's account (``CDK_DEFAULT_ACCOUNT``),
  else the placeholder ``000000000000`` (synth only: a deploy needs a real account).
* ``globalItemsDemo:domainName``, ``globalItemsDemo:hostedZoneId``, ``globalItemsDemo:zoneName``: the service's
  name and its public hosted zone. Placeholders ``items.example.com``, ``Z0000000000000EXAMPLE``, ``example.com``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from aws_cdk import Annotations, CfnOutput, Environment, RemovalPolicy, Stack
from constructs import Construct

from patterns import ApiLambdaTable, GlobalTable, RegionalEndpoint
from patterns.regional_endpoint import ROUTE53_METRICS_REGION, SIGNED_METHODS_WARNING

CONTEXT_PREFIX = "globalItemsDemo:"
PLACEHOLDER_ACCOUNT = "000000000000"
DEFAULT_REGIONS = ("us-east-1", "eu-west-1")
#: The stack holding the table (first region), and the stack of the second region.
HOME_STACK, REPLICA_STACK = "GlobalItemsDemo", "GlobalItemsDemoReplica"


@dataclass(frozen=True)
class GlobalItemsSettings:
    """Where the demo deploys, from the app's context (see the module docstring)."""

    account: str
    regions: tuple[str, str]
    domain_name: str = "items.example.com"
    hosted_zone_id: str = "Z0000000000000EXAMPLE"
    zone_name: str = "example.com"

    @property
    def uses_placeholders(self) -> bool:
        """True while the account or the hosted zone is a placeholder: fine for synth, not for a deploy."""
        return self.account == PLACEHOLDER_ACCOUNT or self.hosted_zone_id == GlobalItemsSettings.hosted_zone_id

    @classmethod
    def from_context(cls, scope: Construct) -> GlobalItemsSettings:
        def value(name: str) -> str | None:
            found = scope.node.try_get_context(CONTEXT_PREFIX + name)
            return str(found).strip() if found else None

        regions = tuple(r.strip() for r in (value("regions") or ",".join(DEFAULT_REGIONS)).split(",") if r.strip())
        if len(regions) != 2:
            raise ValueError(f"{CONTEXT_PREFIX}regions must name two regions, got {regions}")
        overrides = {name: value(name) for name in ("domainName", "hostedZoneId", "zoneName")}
        return cls(
            account=value("account") or os.environ.get("CDK_DEFAULT_ACCOUNT") or PLACEHOLDER_ACCOUNT,
            regions=(regions[0], regions[1]),
            domain_name=overrides["domainName"] or cls.domain_name,
            hosted_zone_id=overrides["hostedZoneId"] or cls.hosted_zone_id,
            zone_name=overrides["zoneName"] or cls.zone_name,
        )


class GlobalItemsRegion(Stack):
    """One region: items API -> local replica; custom domain + /health -> health check -> latency record."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: GlobalItemsSettings,
        region: str,
        global_table: GlobalTable | None = None,
        monitoring_stack: Stack | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, env=Environment(account=settings.account, region=region), **kwargs)
        self.global_table = global_table or GlobalTable(
            self,
            "Items",
            regions=settings.regions,
            table_name="global-items-demo",
            deletion_protection=False,  # a demo: `make destroy` removes it
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.items = ApiLambdaTable(self, "Api", table=self.global_table.table_for(self))
        self.endpoint = RegionalEndpoint(
            self,
            "Endpoint",
            api=self.items.api,
            global_table=self.global_table,
            domain_name=settings.domain_name,
            hosted_zone_id=settings.hosted_zone_id,
            zone_name=settings.zone_name,
            monitoring_stack=monitoring_stack,
        )
        # The items API is IAM-authorized: a signature names one region, so the demo's signed clients call
        # RegionalItemsUrl (docs/global-items-demo.md); the shared name serves /health and unsigned callers.
        Annotations.of(self.endpoint).acknowledge_warning(
            SIGNED_METHODS_WARNING, "the demo's signed clients call each region's RegionalItemsUrl"
        )
        CfnOutput(self, "ItemsUrl", value=f"https://{settings.domain_name}/items")
        CfnOutput(self, "RegionalItemsUrl", value=f"{self.items.url}items")
        CfnOutput(self, "HealthCheckId", value=self.endpoint.health_check.health_check_id)
        if settings.uses_placeholders:
            Annotations.of(self).add_warning_v2(
                "globalItemsDemo:placeholders",
                f"{id} uses placeholder settings (account {settings.account}, hosted zone {settings.hosted_zone_id}): "
                "it synthesizes, but a deploy fails at the certificate; set the globalItemsDemo:* context "
                "(docs/global-items-demo.md) or deploy the other stacks by name",
            )


#: Context set by ``make deploy``/``diff``/``destroy``: with placeholder settings the demo is left out of the app,
#: so deploying every other demo stack does not fail at this one's certificate.
SKIP_WITH_PLACEHOLDERS = "globalItemsDemo:skipWithPlaceholders"


def global_items_demo(scope: Construct, id: str = HOME_STACK) -> GlobalItemsRegion | None:
    """Both regions' stacks (``id`` in the first region, ``id + "Replica"`` in the second); returns the first.

    Returns None, building nothing, when the settings are placeholders and the context value
    ``globalItemsDemo:skipWithPlaceholders`` is true (``make deploy`` sets it).
    """
    settings = GlobalItemsSettings.from_context(scope)
    if settings.uses_placeholders and str(scope.node.try_get_context(SKIP_WITH_PLACEHOLDERS)).lower() == "true":
        print(f"{id} left out: its settings are placeholders (docs/global-items-demo.md)", file=sys.stderr)
        return None
    home = GlobalItemsRegion(scope, id, settings=settings, region=settings.regions[0])
    GlobalItemsRegion(
        scope,
        f"{id}Replica",
        settings=settings,
        region=settings.regions[1],
        global_table=home.global_table,
        # The home stack deploys after this one, so it can hold this region's HealthCheckStatus alarm (us-east-1 only).
        monitoring_stack=home if home.region == ROUTE53_METRICS_REGION else None,
    )
    return home
