"""The OAuth 2 protocol code on authlib (authz/oauth2/), without a database: the token
endpoint, private_key_jwt, introspection, revocation and strict JWT validation."""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from authz.model import Client
from authz.oauth2.rfc6749_client_credentials import FormRequest, Preloaded, build_server
from authz.oauth2.rfc8414_metadata import metadata
from authz.oauth2.rfc9068_access_tokens import InvalidToken, validate_jwt
from authz.secrets import hash_secret, verify_secret
from authz.signing_keys import generate_key

ISS = "http://127.0.0.1:1026"
AUD = ISS + "/ngsi-ld"
TOKEN_URL = ISS + "/oauth2/token"
KID, PRIVATE, PUBLIC = generate_key()
KEYS = KeySet.import_key_set({"keys": [PUBLIC]})
SECRET_HASH = hash_secret("s3cret")


def _pre(client: Client | None, **kw: Any) -> Preloaded:
    return Preloaded(issuer=ISS, audience=AUD, token_endpoint=TOKEN_URL, lifetime=300,
                     client=client, signing_jwk=PRIVATE, **kw)


def _basic(cid: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}


CLIENT = Client("c1", "202011", "app", "client_secret_basic", ("read", "write"),
                secret_hash=SECRET_HASH)


def _token(pre: Preloaded, form: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
    status, body, _ = build_server(pre).create_token_response(
        FormRequest(TOKEN_URL, form, headers))
    return status, orjson.loads(body)


def test_secret_hashes_verify_only_the_secret() -> None:
    assert SECRET_HASH.startswith("scrypt$") and "s3cret" not in SECRET_HASH
    assert verify_secret("s3cret", SECRET_HASH) and not verify_secret("s3cret!", SECRET_HASH)
    assert not verify_secret("s3cret", "garbage")


def test_client_credentials_issue_an_rfc9068_token() -> None:
    status, body = _token(_pre(CLIENT), {"grant_type": "client_credentials", "scope": "read"},
                          _basic("c1", "s3cret"))
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 300
    header = orjson.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "=="))
    assert header == {"typ": "at+jwt", "alg": "ES256", "kid": KID}
    claims = validate_jwt(body["access_token"], KEYS, issuer=ISS, audience=AUD)
    assert claims["sub"] == claims["client_id"] == "c1"
    assert claims["organisation"] == "202011" and claims["scope"] == "read"
    assert claims["exp"] - claims["iat"] == 300 and claims["jti"]


def test_no_scope_asked_gives_the_clients_scopes() -> None:
    _, body = _token(_pre(CLIENT), {"grant_type": "client_credentials"}, _basic("c1", "s3cret"))
    assert set(validate_jwt(body["access_token"], KEYS, issuer=ISS,
                            audience=AUD)["scope"].split()) == {"read", "write"}


@pytest.mark.parametrize(("form", "headers", "status", "error"), [
    ({"grant_type": "client_credentials", "scope": "read manage"}, _basic("c1", "s3cret"),
     400, "invalid_scope"),
    ({"grant_type": "client_credentials"}, _basic("c1", "wrong"), 401, "invalid_client"),
    ({"grant_type": "password"}, _basic("c1", "s3cret"), 400, "unsupported_grant_type"),
    ({"grant_type": "client_credentials"}, {}, 401, "invalid_client"),
])
def test_token_requests_that_fail(form: dict[str, str], headers: dict[str, str], status: int,
                                  error: str) -> None:
    got, body = _token(_pre(CLIENT), form, headers)
    assert (got, body["error"]) == (status, error)
    assert "access_token" not in body


def _assertion(key: Any, **claims: Any) -> str:
    now = int(time.time())
    base = {"iss": "c2", "sub": "c2", "aud": TOKEN_URL, "exp": now + 60, "iat": now,
            "jti": "j-1"}
    base.update(claims)
    return jwt.encode({"alg": "ES256", "kid": "ck"}, base, key)


CLIENT_KEY = ECKey.generate_key("P-256", parameters={"kid": "ck"})
JWT_CLIENT = Client("c2", "1234567890123", "firm", "private_key_jwt", ("read",),
                    jwks={"keys": [CLIENT_KEY.as_dict(private=False)]})
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _jwt_form(assertion: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion}


def test_private_key_jwt_records_the_jti_for_replay_protection() -> None:
    pre = _pre(JWT_CLIENT)
    status, body = _token(pre, _jwt_form(_assertion(CLIENT_KEY)), {})
    assert status == 200, body
    assert pre.used_jtis and pre.used_jtis[0][:2] == ("c2", "j-1")


@pytest.mark.parametrize("claims", [
    {"jti": None}, {"aud": "https://elsewhere.example/token"}, {"exp": int(time.time()) - 120},
    {"exp": int(time.time()) + 3600}, {"iss": "someone-else"},
])
def test_bad_client_assertions_are_refused(claims: dict[str, Any]) -> None:
    if claims.get("jti", "x") is None:
        now = int(time.time())
        assertion = jwt.encode({"alg": "ES256"}, {"iss": "c2", "sub": "c2", "aud": TOKEN_URL,
                                                  "exp": now + 60}, CLIENT_KEY)
    else:
        assertion = _assertion(CLIENT_KEY, **claims)
    status, body = _token(_pre(JWT_CLIENT), _jwt_form(assertion), {})
    # RFC 6749 5.2: invalid_client is 400 unless the client used the Authorization header
    assert status == 400 and body["error"] == "invalid_client"


def test_an_assertion_signed_by_another_key_is_refused() -> None:
    other = ECKey.generate_key("P-256", parameters={"kid": "ck"})
    status, body = _token(_pre(JWT_CLIENT), _jwt_form(_assertion(other)), {})
    assert status == 400 and body["error"] == "invalid_client"


def test_a_secret_client_cannot_use_an_assertion_and_vice_versa() -> None:
    status, _ = _token(_pre(JWT_CLIENT), {"grant_type": "client_credentials"},
                       _basic("c2", "anything"))
    assert status == 401


def _issue() -> str:
    _, body = _token(_pre(CLIENT), {"grant_type": "client_credentials"}, _basic("c1", "s3cret"))
    return str(body["access_token"])


def test_introspection_and_revocation() -> None:
    token = _issue()
    pre = _pre(CLIENT, token_claims=validate_jwt(token, KEYS, issuer=ISS, audience=AUD))
    server = build_server(pre)
    status, body, _ = server.create_endpoint_response(
        "introspection", FormRequest(TOKEN_URL, {"token": token}, _basic("c1", "s3cret")))
    info = orjson.loads(body)
    assert status == 200 and info["active"] is True and info["organisation"] == "202011"
    status, _, _ = server.create_endpoint_response(
        "revocation", FormRequest(TOKEN_URL, {"token": token}, _basic("c1", "s3cret")))
    assert status == 200 and pre.revoked and pre.revoked[0][0] == info["jti"]
    pre.token_revoked = True
    _, body, _ = server.create_endpoint_response(
        "introspection", FormRequest(TOKEN_URL, {"token": token}, _basic("c1", "s3cret")))
    assert orjson.loads(body) == {"active": False}


def test_another_organisation_learns_nothing_by_introspection() -> None:
    token = _issue()
    other = Client("c3", "202037", "ueda", "client_secret_basic", ("read",),
                   secret_hash=SECRET_HASH)
    pre = _pre(other, token_claims=validate_jwt(token, KEYS, issuer=ISS, audience=AUD))
    _, body, _ = build_server(pre).create_endpoint_response(
        "introspection", FormRequest(TOKEN_URL, {"token": token}, _basic("c3", "s3cret")))
    assert orjson.loads(body) == {"active": False}


def _forge(header: dict[str, Any], claims: dict[str, Any], key: Any = None) -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")

    if key is None:
        return f"{b64(header)}.{b64(claims)}."
    return jwt.encode(header, claims, key, algorithms=[header["alg"]])


def _claims(**kw: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISS, "aud": AUD, "sub": "c1", "client_id": "c1", "organisation": "202011",
            "scope": "read", "iat": now, "nbf": now, "exp": now + 300, "jti": "x"}
    base.update(kw)
    return base


def test_alg_none_is_refused() -> None:
    with pytest.raises(InvalidToken, match="algorithm"):
        validate_jwt(_forge({"alg": "none", "typ": "at+jwt", "kid": KID}, _claims()), KEYS,
                     issuer=ISS, audience=AUD)


def test_hmac_with_the_public_key_is_refused() -> None:
    """Algorithm confusion: HS256 keyed with the published public key."""
    secret = OctKey.import_key(orjson.dumps(PUBLIC))
    token = _forge({"alg": "HS256", "typ": "at+jwt", "kid": KID}, _claims(), secret)
    with pytest.raises(InvalidToken, match="algorithm"):
        validate_jwt(token, KEYS, issuer=ISS, audience=AUD)


def test_a_key_the_hub_does_not_hold_is_refused() -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": KID})
    token = _forge({"alg": "RS256", "typ": "at+jwt", "kid": KID}, _claims(), rsa)
    with pytest.raises(InvalidToken):
        validate_jwt(token, KEYS, issuer=ISS, audience=AUD, algorithms=("ES256", "RS256"))
    stranger = ECKey.generate_key("P-256", parameters={"kid": KID})
    with pytest.raises(InvalidToken, match="signature"):
        validate_jwt(_forge({"alg": "ES256", "typ": "at+jwt", "kid": KID}, _claims(),
                            stranger), KEYS, issuer=ISS, audience=AUD)


@pytest.mark.parametrize(("header", "claims", "why"), [
    ({"typ": "JWT"}, {}, "token type"),
    ({}, {"aud": "https://other-hub.example/ngsi-ld"}, "claim"),
    ({}, {"iss": "https://evil.example"}, "claim"),
    ({}, {"exp": int(time.time()) - 120}, "claim"),
    ({}, {"nbf": int(time.time()) + 86_400}, "claim"),  # far: parametrised at collection
    ({}, {"jti": None}, "claim"),
])
def test_wrong_typ_audience_issuer_lifetime(header: dict[str, Any], claims: dict[str, Any],
                                            why: str) -> None:
    key = ECKey.import_key(PRIVATE)
    full = {k: v for k, v in _claims(**claims).items() if v is not None}
    token = _forge({"alg": "ES256", "typ": "at+jwt", "kid": KID, **header}, full, key)
    with pytest.raises(InvalidToken, match=why):
        validate_jwt(token, KEYS, issuer=ISS, audience=AUD)


def test_metadata_names_every_endpoint() -> None:
    doc = metadata(ISS)
    assert doc["issuer"] == ISS and doc["token_endpoint"] == TOKEN_URL
    assert doc["jwks_uri"].endswith("/oauth2/jwks")
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    assert doc["grant_types_supported"] == ["client_credentials"]
