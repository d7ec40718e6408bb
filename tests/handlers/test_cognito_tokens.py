"""Signing in against a Cognito user pool served by moto, and verifying the issued JWTs with PyJWT.

The pool is made the way CognitoProtectedApi makes it (email usernames, an admin-created user,
groups, a client without a secret); the tokens are checked against the pool's JWKS, fetched over
HTTP from the local server, exactly as an API or a service verifying them would.
"""

from __future__ import annotations

import base64
import json

import boto3
import jwt
import pytest

PASSWORD = "Correct-Horse-9-Battery"


@pytest.fixture
def pool(aws):
    idp = boto3.client("cognito-idp")
    pool_id = idp.create_user_pool(
        PoolName="items",
        UsernameAttributes=["email"],
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 12,
                "RequireUppercase": True,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireSymbols": True,
            }
        },
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="app",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    for group in ("admins", "readers"):
        idp.create_group(UserPoolId=pool_id, GroupName=group)
    username = "ada@example.com"
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        UserAttributes=[{"Name": "email", "Value": username}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName="admins")
    sub = next(
        a["Value"]
        for a in idp.admin_get_user(UserPoolId=pool_id, Username=username)["UserAttributes"]
        if a["Name"] == "sub"
    )
    return {"idp": idp, "pool_id": pool_id, "client_id": client_id, "username": username, "sub": sub, "endpoint": aws}


def sign_in(pool) -> dict:
    return pool["idp"].initiate_auth(
        ClientId=pool["client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": pool["username"], "PASSWORD": PASSWORD},
    )["AuthenticationResult"]


def jwks_client(pool) -> jwt.PyJWKClient:
    url = f"{pool['endpoint']}/{pool['pool_id']}/.well-known/jwks.json"
    assert url.startswith("http://127.0.0.1:")
    return jwt.PyJWKClient(url, cache_keys=False)


def issuer(pool) -> str:
    return f"https://cognito-idp.us-east-1.amazonaws.com/{pool['pool_id']}"


def verify_access_token(pool, token: str, *, clock_ahead: int = 0, **options) -> dict:
    """What a resource server does: signature by the pool's key, RS256 only, issuer, expiry, token use.

    ``clock_ahead`` checks the token as if that many seconds had passed since it was issued.
    """
    key = jwks_client(pool).get_signing_key_from_jwt(token)
    checks = {"require": ["exp", "iat", "iss", "sub", "token_use"]}
    if clock_ahead:
        # PyJWT compares exp with now - leeway, so a negative leeway is a later clock; iat then
        # looks as if it were in the future, which a later clock would not see.
        checks["verify_iat"] = False
        options["leeway"] = -clock_ahead
    claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=issuer(pool), options=checks, **options)
    if claims["token_use"] != "access" or claims["client_id"] != pool["client_id"]:
        raise jwt.InvalidTokenError("not an access token of this client")
    return claims


def test_user_password_sign_in_returns_access_id_and_refresh_tokens(pool):
    tokens = sign_in(pool)
    assert {"AccessToken", "IdToken", "RefreshToken"} <= set(tokens)
    assert tokens["TokenType"] == "Bearer"


def test_admin_sign_in_works_too(pool):
    tokens = pool["idp"].admin_initiate_auth(
        UserPoolId=pool["pool_id"],
        ClientId=pool["client_id"],
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": pool["username"], "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    assert verify_access_token(pool, tokens["AccessToken"])["sub"] == pool["sub"]


def test_access_token_is_signed_by_the_pools_jwks_and_carries_the_caller(pool):
    claims = verify_access_token(pool, sign_in(pool)["AccessToken"])
    assert claims["sub"] == pool["sub"]
    assert claims["iss"] == issuer(pool)
    assert "admins" in claims["cognito:groups"]


def test_id_token_verifies_for_its_audience(pool):
    token = sign_in(pool)["IdToken"]
    key = jwks_client(pool).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=pool["client_id"], issuer=issuer(pool))
    assert claims["token_use"] == "id"
    assert claims["email"] == pool["username"]


def test_a_wrong_password_is_refused(pool):
    with pytest.raises(pool["idp"].exceptions.NotAuthorizedException):
        pool["idp"].initiate_auth(
            ClientId=pool["client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": pool["username"], "PASSWORD": "Wrong-Password-1!"},
        )


def _tamper(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return ".".join([header, forged, signature])


def test_a_tampered_token_is_rejected(pool):
    token = _tamper(sign_in(pool)["AccessToken"], **{"cognito:groups": ["admins", "superusers"]})
    with pytest.raises(jwt.InvalidSignatureError):
        verify_access_token(pool, token)


def test_an_expired_token_is_rejected(pool):
    token = sign_in(pool)["AccessToken"]
    lifetime = jwt.decode(token, options={"verify_signature": False})
    valid_for = lifetime["exp"] - lifetime["iat"]
    assert verify_access_token(pool, token, clock_ahead=valid_for - 60)["sub"] == pool["sub"]
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_access_token(pool, token, clock_ahead=valid_for + 1)


def test_a_token_signed_with_another_algorithm_is_rejected(pool):
    token = sign_in(pool)["AccessToken"]
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(token)["kid"]
    forged = jwt.encode(claims, "a-shared-secret-that-must-never-be-accepted", algorithm="HS256", headers={"kid": kid})
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify_access_token(pool, forged)


def test_an_id_token_is_not_accepted_as_an_access_token(pool):
    with pytest.raises(jwt.InvalidTokenError):
        verify_access_token(pool, sign_in(pool)["IdToken"], audience=pool["client_id"])
