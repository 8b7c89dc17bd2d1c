"""Validation of what callers submit to the management API: client and grant requests.

Pure: returns model objects or raises ``ValueError`` with a message for the caller (the
hub maps it to BadRequestData). Rules here, not in SQL, so they are unit-tested.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from authz.model import SCOPES, Client, Grant

__all__ = ["GRANTABLE", "check_public_jwks", "client_from", "grant_from", "is_full_iri"]

GRANTABLE = ("read", "subscribe")  # writes stay with the owner (the registry's rule)
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(//)?[^\s<>\"{}|\\^`]+$")


def is_full_iri(value: Any) -> bool:
    """An absolute IRI such as ``https://smartdatamodels.org/dataModel.Weather/
    WeatherObserved``: never a short name a caller's ``@context`` could redefine."""
    return (isinstance(value, str) and bool(_IRI.match(value))
            and ("://" in value or value.startswith("urn:")))


def _str(body: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty string")
    return value.strip()


def client_from(body: dict[str, Any], organisation: str, client_id: str,
                secret_hash: str | None) -> Client:
    name = _str(body, "name")
    method = body.get("auth_method", "client_secret_basic")
    if method not in ("client_secret_basic", "client_secret_post", "private_key_jwt"):
        raise ValueError("auth_method must be client_secret_basic, client_secret_post or"
                         " private_key_jwt")
    jwks = body.get("jwks")
    if method == "private_key_jwt" or jwks is not None:
        check_public_jwks(jwks)
    scopes = body.get("scopes", ["read"])
    if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
        raise ValueError(f"scopes must be a non-empty list of {list(SCOPES)}")
    rate = body.get("rate_per_minute")
    if rate is not None and (not isinstance(rate, int) or isinstance(rate, bool) or rate < 1):
        raise ValueError("rate_per_minute must be a positive integer")
    return Client(client_id=client_id, organisation=organisation, name=name or "",
                  auth_method=method, scopes=tuple(dict.fromkeys(scopes)),
                  secret_hash=secret_hash if method != "private_key_jwt" else None,
                  jwks=jwks, rate_per_minute=rate)


#: JWK members that carry private or secret key material (RFC 7518 6.2.2, 6.3.2, 6.4;
#: RFC 8037 2): a client registers only what verifies its assertions
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_ASYMMETRIC = frozenset({"EC", "RSA", "OKP"})


def check_public_jwks(jwks: Any) -> None:
    """A client's registered JWKS (RFC 7523 client authentication): asymmetric public keys
    only. A symmetric key (``kty: oct``) would be a shared secret stored in clear and
    usable by anyone who reads it to sign assertions; private members mean the client
    handed over its private key. Either is refused rather than stripped."""
    if not (isinstance(jwks, dict) and isinstance(jwks.get("keys"), list) and jwks["keys"]):
        raise ValueError("private_key_jwt needs jwks: {\"keys\": [public JWKs]}")
    for key in jwks["keys"]:
        if not isinstance(key, dict):
            raise ValueError("jwks keys must be JWK objects")
        if key.get("kty") not in _ASYMMETRIC:
            raise ValueError("jwks must hold asymmetric public keys (kty EC, RSA or OKP);"
                             f" kty {key.get('kty')!r} is refused")
        private = sorted(_PRIVATE_MEMBERS & key.keys())
        if private:
            raise ValueError("jwks must hold public keys only: remove the private members"
                             f" {', '.join(private)}")


def _time(body: dict[str, Any], key: str) -> datetime:
    value = body.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be an ISO 8601 date-time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{key} must be an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{key} must carry a time zone (e.g. Z or +09:00)")
    return parsed


def grant_from(body: dict[str, Any], consumer_org: str, *, owner_of_dataset: str | None,
               personal_data: bool) -> Grant:
    """A grant request. ``owner_of_dataset``: the owner of ``body['dataset']`` as the
    catalogue knows it (None: no such dataset)."""
    dataset = body.get("dataset")
    entity_type = body.get("entity_type")
    if (dataset is None) == (entity_type is None):
        raise ValueError("give either dataset or owner + entity_type")
    if dataset is not None:
        if not isinstance(dataset, str) or owner_of_dataset is None:
            raise ValueError(f"no dataset {dataset!r}")
        owner = owner_of_dataset
    else:
        if not is_full_iri(entity_type):
            raise ValueError("entity_type must be a full type IRI, not a short name")
        owner = _str(body, "owner") or ""
    actions = body.get("actions", ["read"])
    if not isinstance(actions, list) or not actions or any(a not in GRANTABLE for a in actions):
        raise ValueError(f"actions must be a non-empty list of {list(GRANTABLE)};"
                         " only the owner writes its data")
    attrs = body.get("attributes")
    if attrs is not None and (not isinstance(attrs, list)
                              or not all(is_full_iri(a) for a in attrs)):
        raise ValueError("attributes must be a list of full attribute IRIs")
    purpose = _str(body, "purpose")
    start, end = _time(body, "valid_from"), _time(body, "valid_until")
    if end <= start:
        raise ValueError("valid_until must be after valid_from")
    granularity = body.get("granularity", "raw")
    if granularity not in ("raw", "aggregated"):
        raise ValueError("granularity must be raw or aggregated")
    group = body.get("min_group_size")
    if granularity == "aggregated" and (not isinstance(group, int) or group < 2):
        raise ValueError("an aggregated grant needs min_group_size >= 2")
    if personal_data and granularity == "raw":
        raise ValueError("a personal-data dataset is only granted aggregated")
    rate = body.get("rate_per_minute")
    if rate is not None and (not isinstance(rate, int) or isinstance(rate, bool) or rate < 1):
        raise ValueError("rate_per_minute must be a positive integer")
    client = body.get("consumer_client")
    if client is not None and not isinstance(client, str):
        raise ValueError("consumer_client must be a client id")
    if owner == consumer_org:
        raise ValueError("an organisation needs no grant for its own data")
    return Grant(id=str(uuid.uuid4()), consumer_org=consumer_org, owner_org=owner,
                 actions=tuple(dict.fromkeys(actions)), purpose=purpose or "",
                 valid_from=start, valid_until=end, status="requested",
                 consumer_client=client, dataset=dataset, entity_type=entity_type,
                 attributes=tuple(attrs) if attrs is not None else None,
                 granularity=granularity,
                 min_group_size=group if granularity == "aggregated" else None,
                 rate_per_minute=rate)
