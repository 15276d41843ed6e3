"""authlib's OAuth 2 client (requests integration) against a live gptauth: authorization code +
PKCE S256 through gptauth's real login and consent forms, the code exchange and refreshes, once
per client authentication method (client_secret_basic, client_secret_post, and private_key_jwt
signed by authlib's PrivateKeyJWT). Access tokens are verified against the JWKS with PyJWT."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, unquote_plus, urlsplit

import jwt
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc.jwk import RSAKey

from conftest import USER_EMAIL, Person, free_port

SCOPE = "openid profile email"


@pytest.fixture(scope="module")
def metadata(gptauth):
    res = requests.get(f"{gptauth.issuer}/.well-known/oauth-authorization-server", timeout=10)
    assert res.status_code == 200
    return res.json()


@pytest.fixture(scope="module")
def jwks_client(metadata):
    return jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=True)


def verify_access_token(token: str, gptauth, jwks_client) -> dict:
    header = jwt.get_unverified_header(token)
    assert header.get("typ") == "at+jwt", header
    assert header.get("alg") == "ES256", header
    key = jwks_client.get_signing_key_from_jwt(token)
    return jwt.decode(
        token, key.key, algorithms=["ES256"], issuer=gptauth.issuer, audience=gptauth.issuer,
        options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
    )


def form_of(request: requests.PreparedRequest) -> dict[str, str]:
    body = request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def check_client_authentication(request, method: str, client: dict) -> None:
    """The token request authenticated the client exactly the way `method` says."""
    form = form_of(request)
    authorization = request.headers.get("Authorization")
    if method == "client_secret_basic":
        assert authorization and authorization.startswith("Basic "), request.headers
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        assert (unquote_plus(user), unquote_plus(password)) == (client["client_id"], client["client_secret"])
        assert "client_secret" not in form
    else:
        assert authorization is None, "client_secret_post sends no Authorization header"
        assert form.get("client_id") == client["client_id"]
        assert form.get("client_secret") == client["client_secret"]


def test_metadata_passes_authlibs_rfc8414_validation(gptauth, metadata):
    AuthorizationServerMetadata(metadata).validate()
    assert metadata["issuer"] == gptauth.issuer
    assert "S256" in metadata["code_challenge_methods_supported"]
    for method in ("client_secret_basic", "client_secret_post"):
        assert method in metadata["token_endpoint_auth_methods_supported"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_code_flow_with_pkce_then_refresh(gptauth, metadata, jwks_client, method):
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    client = gptauth.create_client(f"authlib ({method})", redirect_uri)
    assert client.get("client_secret"), "a confidential client"

    sent: list[requests.PreparedRequest] = []
    session = OAuth2Session(
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        token_endpoint_auth_method=method,
        redirect_uri=redirect_uri,
        scope=SCOPE,
        code_challenge_method="S256",
        token_endpoint=metadata["token_endpoint"],  # lets authlib refresh an expired token by itself
    )
    session.hooks["response"].append(lambda res, *a, **k: sent.append(res.request))
    token_requests = lambda: [r for r in sent if r.url == metadata["token_endpoint"]]  # noqa: E731

    # 1. Authorization request with PKCE, through gptauth's pages.
    verifier = generate_token(64)
    url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    person = Person()
    callback = person.authorize(url)
    got = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert "error" not in got, f"gptauth refused: {got}"
    assert callback.startswith(redirect_uri + "?")
    assert person.pages == ["login", "consent"]
    assert all("csrf_token" in fields for _, fields in person.posted), person.posted
    assert got["state"] == state
    assert got["iss"] == gptauth.issuer, "RFC 9207 iss"

    # 2. Code exchange (authlib checks state again from the callback URL).
    token = session.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    (exchange,) = token_requests()
    check_client_authentication(exchange, method, client)
    assert form_of(exchange)["grant_type"] == "authorization_code"
    assert form_of(exchange)["code_verifier"] == verifier
    assert token["token_type"].lower() == "bearer"
    assert isinstance(token["expires_in"], int) and token["expires_in"] > 0
    assert token.get("refresh_token")
    claims = verify_access_token(token["access_token"], gptauth, jwks_client)
    assert claims["sub"] == gptauth.user["id"], "sub is the CLI-created user"
    assert claims["client_id"] == client["client_id"]
    assert set(claims["scope"].split()) == set(SCOPE.split())
    first = dict(token)

    # The access token works at the userinfo endpoint.
    info = session.get(metadata["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == claims["sub"]
    assert info.json()["email"] == USER_EMAIL

    # 3. Explicit refresh: a new access token and a rotated refresh token, same sub.
    renewed = session.refresh_token(metadata["token_endpoint"])
    refresh = token_requests()[-1]
    check_client_authentication(refresh, method, client)
    assert form_of(refresh)["grant_type"] == "refresh_token"
    assert form_of(refresh)["refresh_token"] == first["refresh_token"]
    assert renewed["access_token"] != first["access_token"]
    assert renewed["refresh_token"] != first["refresh_token"], "refresh token rotated"
    renewed_claims = verify_access_token(renewed["access_token"], gptauth, jwks_client)
    assert renewed_claims["sub"] == claims["sub"]
    assert renewed_claims["jti"] != claims["jti"]
    second = dict(renewed)

    # 4. authlib refreshes on its own when the token it holds has expired, then the call works.
    session.token["expires_at"] = int(time.time()) - 10
    count = len(token_requests())
    info = session.get(metadata["userinfo_endpoint"], timeout=10)
    assert len(token_requests()) == count + 1, "authlib refreshed before the call"
    check_client_authentication(token_requests()[-1], method, client)
    assert form_of(token_requests()[-1])["refresh_token"] == second["refresh_token"]
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == gptauth.user["id"]
    third = session.token
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert verify_access_token(third["access_token"], gptauth, jwks_client)["sub"] == gptauth.user["id"]


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """authlib's own PrivateKeyJWT, asked for a one-minute assertion: its default lifetime is an
    hour, and gptauth takes client assertions that expire within five minutes."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint,
            alg=self.alg, header=self.headers, expires_in=60,
        )


def private_key_jwt_client(gptauth, tmp_path, redirect_uri: str):
    """A client made with `gptauth client create --jwks-file`, and its private key."""
    key = RSAKey.generate_key(2048, parameters={"kid": "authlib-1", "use": "sig", "alg": "RS256"})
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    client = gptauth.cli("client", "create", "--name", "authlib (private_key_jwt)",
                         "--redirect-uri", redirect_uri, "--jwks-file", str(jwks))
    assert "client_secret" not in client, "it signs instead of holding a secret"
    assert client["token_endpoint_auth_methods"] == ["private_key_jwt"]
    return client, key


def test_private_key_jwt_code_flow_then_refresh(gptauth, metadata, jwks_client, tmp_path):
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert "RS256" in metadata["token_endpoint_auth_signing_alg_values_supported"]
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    client, key = private_key_jwt_client(gptauth, tmp_path, redirect_uri)

    sent: list[requests.PreparedRequest] = []
    session = OAuth2Session(
        client_id=client["client_id"], client_secret=key, token_endpoint_auth_method="private_key_jwt",
        redirect_uri=redirect_uri, scope=SCOPE, code_challenge_method="S256",
        token_endpoint=metadata["token_endpoint"],
    )
    session.register_client_auth_method(ShortLivedPrivateKeyJWT(metadata["token_endpoint"]))
    session.hooks["response"].append(lambda res, *a, **k: sent.append(res.request))

    verifier = generate_token(64)
    url, _ = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    callback = Person().authorize(url)
    assert "error" not in parse_qs(urlsplit(callback).query), callback

    token = session.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    exchange = sent[-1]
    form = form_of(exchange)
    assert exchange.headers.get("Authorization") is None
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in form
    assertion = jwt.decode(form["client_assertion"], options={"verify_signature": False})
    assert assertion["iss"] == assertion["sub"] == client["client_id"]
    assert assertion["aud"] == metadata["token_endpoint"]
    claims = verify_access_token(token["access_token"], gptauth, jwks_client)
    assert claims["client_id"] == client["client_id"]
    assert claims["sub"] == gptauth.user["id"]

    renewed = session.refresh_token(metadata["token_endpoint"])
    assert renewed["refresh_token"] != token["refresh_token"], "refresh token rotated"
    second = jwt.decode(form_of(sent[-1])["client_assertion"], options={"verify_signature": False})
    assert second["jti"] != assertion["jti"], "a new assertion for each request"

    # The same assertion again is a replay.
    res = requests.post(metadata["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": renewed["refresh_token"],
        "client_assertion_type": form["client_assertion_type"], "client_assertion": form_of(sent[-1])["client_assertion"],
    }, timeout=10)
    assert (res.status_code, res.json()["error"]) == (401, "invalid_client"), res.text


def test_authlibs_default_hour_long_assertion_is_refused(gptauth, metadata, tmp_path):
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    client, key = private_key_jwt_client(gptauth, tmp_path, redirect_uri)
    session = OAuth2Session(
        client_id=client["client_id"], client_secret=key, token_endpoint_auth_method="private_key_jwt",
        redirect_uri=redirect_uri, scope=SCOPE, code_challenge_method="S256",
    )
    session.register_client_auth_method(PrivateKeyJWT(metadata["token_endpoint"]))
    verifier = generate_token(64)
    url, _ = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    callback = Person().authorize(url)
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert refused.value.error == "invalid_client"
    assert "too far ahead" in (refused.value.description or "")
