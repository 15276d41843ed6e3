// openid-client (v6, a certified OpenID Connect relying party library) against a live gptauth:
// OIDC discovery, authorization code + PKCE S256 with nonce and state for a confidential client
// made with the CLI, id_token validation (signature against the JWKS, iss, aud, nonce, alg),
// userinfo, and a refresh. Then the same with a client registered through openid-client's own
// dynamic registration asking for ES256 id_tokens (id_token_signed_response_alg), and with a
// private_key_jwt client (`client create --jwks-file`) that openid-client's PrivateKeyJwt signs for.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader, generateKeyPair, exportJWK } from 'jose';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGptauth, pickPort, USER_EMAIL, USER_PASSWORD } from './lib/gptauth.mjs';
import { UserAgent } from './lib/user-agent.mjs';

/** A short, safe rendering of an openid-client error's details (never a whole response body). */
function detailOf(detail) {
  if (!detail || typeof detail !== 'object' || detail instanceof Error) return '';
  try { return JSON.stringify(detail, (k, v) => (v instanceof Response ? `HTTP ${v.status}` : v)).slice(0, 800); } catch { return ''; }
}

const insecure = { execute: [oidc.allowInsecureRequests] }; // the issuer is http://127.0.0.1:PORT

describe('openid-client (OpenID Connect RP) against gptauth', () => {
  let gptauth, jwks, redirectUri;

  before(async () => {
    gptauth = await startGptauth();
    jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', gptauth.issuer));
    redirectUri = `http://127.0.0.1:${await pickPort()}/callback`;
  });
  after(async () => { await gptauth?.stop(); });

  /** Runs `body`, adding what openid-client found wrong and gptauth's log to a failure. */
  const withLog = async (body) => {
    try { return await body(); } catch (e) {
      for (let c = e.cause, depth = 0; c instanceof Error && depth < 3; c = c.cause, depth++) {
        e.message += `\ncaused by: ${c.message ?? ''} ${c.code ?? ''} ${detailOf(c.cause)}`;
      }
      const text = gptauth.log().trim();
      if (text && e instanceof Error) e.message += `\n--- gptauth log ---\n${text}`;
      throw e;
    }
  };

  /** Authorization code + PKCE + nonce + state through gptauth's pages; returns the token response. */
  async function signIn(config, scope = 'openid profile email') {
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const stateValue = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      nonce,
      state: stateValue,
    });
    assert.equal(`${url.origin}${url.pathname}`, `${gptauth.issuer}/oauth/authorize`);
    const ua = new UserAgent({ email: USER_EMAIL, password: USER_PASSWORD });
    const callback = await ua.authorize(url);
    assert.equal(callback.searchParams.get('error'), null,
      `gptauth refused: ${callback.searchParams.get('error')} ${callback.searchParams.get('error_description')}`);
    assert.deepEqual(ua.pages, ['login', 'consent']);
    // openid-client checks state, iss (RFC 9207, advertised in the metadata), the PKCE
    // verifier at the token endpoint, and the id_token: signature, iss, aud, exp, iat, nonce.
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: codeVerifier,
      expectedNonce: nonce,
      expectedState: stateValue,
      idTokenExpected: true,
    });
    return { tokens, nonce };
  }

  // accessAudience: the issuer for a CLI client; a dynamically registered client's tokens are
  // for its own client_id, never the issuer (anyone may register one).
  async function checkTokens(config, { tokens, nonce }, expectedAlg, accessAudience = gptauth.issuer) {
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.refresh_token, 'a refresh token');
    assert.ok(tokens.id_token, 'an id_token (OpenID Connect Core 3.1.3.3: scope openid)');
    const header = decodeProtectedHeader(tokens.id_token);
    assert.equal(header.alg, expectedAlg, 'id_token alg');
    assert.ok(header.kid, 'id_token kid');
    // Independent check of the signature against the JWKS (openid-client did it too).
    const { payload: idToken } = await jwtVerify(tokens.id_token, jwks, {
      issuer: gptauth.issuer, audience: config.clientMetadata().client_id, algorithms: [expectedAlg],
    });
    const claims = tokens.claims();
    assert.equal(claims.sub, gptauth.user.id, 'id_token sub is the CLI-created user');
    assert.equal(claims.iss, gptauth.issuer);
    assert.equal(claims.nonce, nonce);
    assert.equal(idToken.sub, claims.sub);
    const aud = [claims.aud].flat();
    assert.ok(aud.includes(config.clientMetadata().client_id), `aud ${JSON.stringify(claims.aud)}`);
    if (aud.length > 1) assert.equal(claims.azp, config.clientMetadata().client_id, 'azp with several audiences');

    const { payload: access } = await jwtVerify(tokens.access_token, jwks, {
      issuer: gptauth.issuer, audience: accessAudience, typ: 'at+jwt', algorithms: ['ES256'],
    });
    assert.equal(access.sub, claims.sub, 'access token and id_token name the same user');
    assert.equal(access.client_id, config.clientMetadata().client_id);
    return claims;
  }

  async function checkUserinfoAndRefresh(config, tokens, claims) {
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.sub, gptauth.user.id);
    assert.equal(info.email, USER_EMAIL);
    assert.equal(info.name, 'Grace Hopper');

    const renewed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(renewed.access_token);
    assert.notEqual(renewed.access_token, tokens.access_token);
    assert.ok(renewed.refresh_token, 'a new refresh token');
    assert.notEqual(renewed.refresh_token, tokens.refresh_token, 'refresh token rotated');
    // OpenID Connect Core 12.2: an id_token from a refresh names the same sub (openid-client
    // validates its signature, iss and aud).
    if (renewed.id_token) assert.equal(renewed.claims().sub, claims.sub);
    const again = await oidc.fetchUserInfo(config, renewed.access_token, claims.sub);
    assert.equal(again.sub, gptauth.user.id, 'the refreshed access token works at userinfo');
  }

  it('discovery advertises what an OpenID Connect RP needs', () => withLog(async () => {
    const client = await gptauth.createClient('OIDC RP', [redirectUri]);
    const config = await oidc.discovery(new URL(gptauth.issuer), client.client_id, client.client_secret, undefined, insecure);
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, gptauth.issuer);
    assert.equal(meta.authorization_endpoint, `${gptauth.issuer}/oauth/authorize`);
    assert.equal(meta.token_endpoint, `${gptauth.issuer}/oauth/token`);
    assert.equal(meta.userinfo_endpoint, `${gptauth.issuer}/oauth/userinfo`);
    assert.equal(meta.jwks_uri, `${gptauth.issuer}/.well-known/jwks.json`);
    assert.ok(meta.scopes_supported.includes('openid'));
    assert.ok(meta.response_types_supported.includes('code'));
    assert.ok(meta.subject_types_supported.includes('public'));
    assert.ok(meta.code_challenge_methods_supported.includes('S256'));
    // OpenID Connect Discovery 1.0 §3: REQUIRED.
    assert.ok(Array.isArray(meta.id_token_signing_alg_values_supported),
      `id_token_signing_alg_values_supported missing from ${gptauth.issuer}/.well-known/openid-configuration`);
    assert.ok(meta.id_token_signing_alg_values_supported.includes('ES256'));
    assert.ok(meta.id_token_signing_alg_values_supported.includes('RS256'));
  }));

  it('CLI confidential client: code + PKCE + nonce, RS256 id_token (the default), userinfo, refresh', () => withLog(async () => {
    const client = await gptauth.createClient('OIDC RP (RS256)', [redirectUri]);
    assert.ok(client.client_secret, 'a confidential client');
    const config = await oidc.discovery(new URL(gptauth.issuer), client.client_id, client.client_secret, undefined, insecure);
    const result = await signIn(config);
    const claims = await checkTokens(config, result, 'RS256');
    await checkUserinfoAndRefresh(config, result.tokens, claims);
  }));

  it('dynamically registered client with id_token_signed_response_alg ES256', () => withLog(async () => {
    const config = await oidc.dynamicClientRegistration(new URL(gptauth.issuer), {
      client_name: 'OIDC RP (ES256)',
      redirect_uris: [redirectUri],
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'ES256',
    }, undefined, insecure);
    const registered = config.clientMetadata();
    assert.ok(registered.client_secret, 'a confidential client');
    assert.equal(registered.id_token_signed_response_alg, 'ES256', 'the registration response echoes the alg');
    const result = await signIn(config);
    const claims = await checkTokens(config, result, 'ES256', registered.client_id);
    await checkUserinfoAndRefresh(config, result.tokens, claims);
  }));

  it('private_key_jwt client (client create --jwks-file), signed by openid-client\'s PrivateKeyJwt', () => withLog(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = 'openid-client-1';
    const dir = await mkdtemp(join(tmpdir(), 'gptauth-jwks-'));
    try {
      const file = join(dir, 'jwks.json');
      await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] }));
      const client = await gptauth.createClient('OIDC RP (private_key_jwt)', [redirectUri], ['--jwks-file', file]);
      assert.equal(client.client_secret, undefined, 'it signs instead of holding a secret');
      const config = await oidc.discovery(new URL(gptauth.issuer), client.client_id, undefined,
        oidc.PrivateKeyJwt({ key: privateKey, kid }), insecure);
      const meta = config.serverMetadata();
      assert.ok(meta.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
      assert.ok(meta.token_endpoint_auth_signing_alg_values_supported.includes('ES256'));
      const result = await signIn(config);
      const claims = await checkTokens(config, result, 'RS256');
      await checkUserinfoAndRefresh(config, result.tokens, claims);

      // Without its assertion the same client is refused (a 401 with a Basic challenge, which
      // openid-client reports as a WWW-Authenticate challenge).
      const bare = await oidc.discovery(new URL(gptauth.issuer), client.client_id, undefined, oidc.None(), insecure);
      await assert.rejects(oidc.refreshTokenGrant(bare, result.tokens.refresh_token),
        (e) => (e.status ?? e.response?.status) === 401);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }));
});
