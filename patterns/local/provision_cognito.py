"""Cognito user pools with their resource servers, app clients and groups, created on the local endpoint."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .model import LocalUserPool
from .provision_stack import Resource, StackProvisionerBase, error_code, flag

# Service limit on physical names.
_USER_POOL_NAME_LIMIT = 128

_CLIENT_SETTINGS = (
    "AccessTokenValidity",
    "AllowedOAuthFlows",
    "AllowedOAuthFlowsUserPoolClient",
    "AllowedOAuthScopes",
    "AuthSessionValidity",
    "CallbackURLs",
    "DefaultRedirectURI",
    "EnableTokenRevocation",
    "IdTokenValidity",
    "LogoutURLs",
    "PreventUserExistenceErrors",
    "ReadAttributes",
    "RefreshTokenValidity",
    "SupportedIdentityProviders",
    "TokenValidityUnits",
    "WriteAttributes",
)
#: Cognito's explicit auth flows when a client names none.
_DEFAULT_AUTH_FLOWS = ("ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")
#: Added to every client so that the local sign-in page can check passwords.
SIGN_IN_AUTH_FLOW = "ALLOW_ADMIN_USER_PASSWORD_AUTH"


class CognitoProvisioner(StackProvisionerBase):
    """Creates a stack's user pools, resource servers, app clients and groups."""

    def _user_pool(self, resource: Resource) -> None:
        name = resource.prop("UserPoolName") or self._physical_name(resource.logical_id, _USER_POOL_NAME_LIMIT)
        cognito = self.run.clients("cognito-idp")
        pool_id = self._existing_pool_id(name)
        if pool_id is None:
            pool_id = cognito.create_user_pool(**self._user_pool_request(resource, name))["UserPool"]["Id"]
        arn = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"]
        provider = f"cognito-idp.{self.region}.amazonaws.com/{pool_id}"
        self._record(
            resource.logical_id,
            pool_id,
            Arn=arn,
            ProviderName=provider,
            ProviderURL=f"https://{provider}",
            UserPoolId=pool_id,
        )
        pool = LocalUserPool(stack=self.stack.name, logical_id=resource.logical_id, pool_id=pool_id, arn=arn)
        self.local.user_pools[resource.logical_id] = pool
        self.run.user_pools[pool_id] = pool
        mfa = resource.prop("MfaConfiguration", "OFF")
        if mfa != "OFF":
            self._skip(resource.logical_id, resource.type, f"MFA (MfaConfiguration {mfa}) is not enforced locally")

    @staticmethod
    def _user_pool_request(resource: Resource, name: str) -> dict[str, Any]:
        request: dict[str, Any] = {"PoolName": name, "MfaConfiguration": "OFF"}
        for key in (
            "UsernameAttributes",
            "AliasAttributes",
            "AutoVerifiedAttributes",
            "Schema",
            "AdminCreateUserConfig",
            "UsernameConfiguration",
        ):
            value = resource.prop(key)
            if value is not None:
                request[key] = value
        password_policy = (resource.prop("Policies") or {}).get("PasswordPolicy")
        if password_policy:
            request["Policies"] = {"PasswordPolicy": password_policy}
        return request

    def _existing_pool_id(self, name: str) -> str | None:
        pages = (
            self.run.clients("cognito-idp").get_paginator("list_user_pools").paginate(PaginationConfig={"PageSize": 60})
        )
        for page in pages:
            for pool in page["UserPools"]:
                if pool["Name"] == name:
                    pool_id: str = pool["Id"]
                    return pool_id
        return None

    def _resource_server(self, resource: Resource) -> None:
        pool_id = resource.required("UserPoolId")
        identifier = resource.required("Identifier")
        scopes = resource.prop("Scopes", [])
        cognito = self.run.clients("cognito-idp")
        try:
            cognito.describe_resource_server(UserPoolId=pool_id, Identifier=identifier)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
            cognito.create_resource_server(
                UserPoolId=pool_id, Identifier=identifier, Name=resource.prop("Name", identifier), Scopes=scopes
            )
        self._record(resource.logical_id, identifier)
        pool = self.run.user_pools.get(pool_id)
        if pool is not None:
            pool.scopes.extend(f"{identifier}/{scope['ScopeName']}" for scope in scopes)

    def _user_pool_client(self, resource: Resource) -> None:
        pool_id = resource.required("UserPoolId")
        name = resource.prop("ClientName") or resource.logical_id
        cognito = self.run.clients("cognito-idp")
        client_id = self._existing_client_id(pool_id, name)
        if client_id is None:
            request = {key: resource.prop(key) for key in _CLIENT_SETTINGS if key in resource.properties}
            flows = list(resource.prop("ExplicitAuthFlows") or _DEFAULT_AUTH_FLOWS)
            request["ExplicitAuthFlows"] = flows if SIGN_IN_AUTH_FLOW in flows else [*flows, SIGN_IN_AUTH_FLOW]
            request["GenerateSecret"] = flag(resource.prop("GenerateSecret", False))
            created = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=name, **request)["UserPoolClient"]
            client_id = created["ClientId"]
        client = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
        secret = client.get("ClientSecret")
        self._record(resource.logical_id, client_id, ClientId=client_id, ClientSecret=secret, Name=name)
        pool = self.run.user_pools.get(pool_id)
        if pool is not None:
            pool.client_ids[resource.logical_id] = client_id

    def _existing_client_id(self, pool_id: str, name: str) -> str | None:
        pages = (
            self.run.clients("cognito-idp")
            .get_paginator("list_user_pool_clients")
            .paginate(UserPoolId=pool_id, PaginationConfig={"PageSize": 60})
        )
        for page in pages:
            for client in page["UserPoolClients"]:
                if client["ClientName"] == name:
                    client_id: str = client["ClientId"]
                    return client_id
        return None

    def _user_pool_group(self, resource: Resource) -> None:
        pool_id = resource.required("UserPoolId")
        name = resource.prop("GroupName") or resource.logical_id
        extras = {key: resource.prop(key) for key in ("Description", "Precedence") if key in resource.properties}
        try:
            self.run.clients("cognito-idp").create_group(UserPoolId=pool_id, GroupName=name, **extras)
        except ClientError as error:
            if error_code(error) != "GroupExistsException":
                raise
        self._record(resource.logical_id, name)
        pool = self.run.user_pools.get(pool_id)
        if pool is not None:
            pool.groups.append(name)
