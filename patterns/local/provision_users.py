"""Users of the run (``--user``): parsed from the CLI and created in every user pool of the run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .model import LocalEnvironment, LocalRunError, LocalUserPool
from .provision_stack import Clients, error_code


@dataclass(frozen=True)
class LocalUser:
    """A user to create in every user pool of the run (``--user email:password[:group,...]``)."""

    username: str
    password: str
    groups: tuple[str, ...] = ()


def parse_user(text: str) -> LocalUser:
    """Parse ``username:password[:group1,group2]``, the CLI's ``--user`` form.

    The groups are whatever follows the last colon when there are two or more, so a password that
    holds a colon needs a trailing colon (no groups): ``ada@example.com:pa:ss:``. Errors name the
    user but never echo the password.
    """
    username, separator, rest = text.partition(":")
    password, _, group_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
    username = username.strip()
    if not username or not separator or not password:
        raise ValueError(f"bad user {username!r}: expected EMAIL:PASSWORD[:GROUP,...]")
    groups = tuple(group.strip() for group in group_text.split(",")) if group_text.strip() else ()
    if not all(groups):
        raise ValueError(f"bad user {username!r}: empty group name in {group_text!r}")
    return LocalUser(username, password, groups)


def create_users(clients: Clients, environment: LocalEnvironment, users: Sequence[LocalUser]) -> None:
    """Create each user, with a permanent password, in every user pool of the run (if it has any).

    A group that no pool has is an error (a typo, most likely); a group some pools lack is skipped there.
    """
    pools = [pool for stack in environment.stacks for pool in stack.user_pools.values()]
    if not users or not pools:
        return
    known_groups = {group for pool in pools for group in pool.groups}
    for user in users:
        unknown = sorted(set(user.groups) - known_groups)
        if unknown:
            raise LocalRunError(
                f"user {user.username}: no user pool of this run has group(s) {', '.join(unknown)} "
                f"(groups: {', '.join(sorted(known_groups)) or 'none'})"
            )
        for pool in pools:
            try:
                _create_user(clients("cognito-idp"), pool, user)
            except ClientError as error:
                raise LocalRunError(
                    f"user {user.username} in user pool {pool.stack}/{pool.logical_id}: "
                    f"{error.response.get('Error', {}).get('Message') or error}"
                ) from None


def _create_user(cognito: Any, pool: LocalUserPool, user: LocalUser) -> None:
    attributes = []
    if "@" in user.username:  # an email: usable as the username of pools that sign in with email
        attributes = [{"Name": "email", "Value": user.username}, {"Name": "email_verified", "Value": "true"}]
    try:
        cognito.admin_create_user(
            UserPoolId=pool.pool_id, Username=user.username, UserAttributes=attributes, MessageAction="SUPPRESS"
        )
    except ClientError as error:
        if error_code(error) != "UsernameExistsException":
            raise
    cognito.admin_set_user_password(
        UserPoolId=pool.pool_id, Username=user.username, Password=user.password, Permanent=True
    )
    for group in user.groups:
        if group in pool.groups:
            cognito.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=user.username, GroupName=group)
