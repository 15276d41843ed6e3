// The official MCP TypeScript SDK's OAuth client against a live gptauth, end to end:
// 401 from a protected MCP server → RFC 9728 protected resource metadata → RFC 8414 metadata
// of gptauth → RFC 7591 dynamic registration of a public client → PKCE S256 authorization
// (gptauth's real login and consent forms) → code exchange with resource=<MCP server URL> →
// an authenticated MCP tool call → a refresh when the MCP server refuses the access token.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { startGptauth, pickPort, USER_EMAIL, USER_PASSWORD } from './lib/gptauth.mjs';
import { startMcpServer } from './lib/mcp-server.mjs';
import { UserAgent } from './lib/user-agent.mjs';

/** An OAuthClientProvider that keeps everything in memory, as a CLI MCP host would. */
class MemoryProvider {
  constructor(redirectUrl) {
    this.redirectUrl = redirectUrl;
    this.authorizationUrls = [];
    this.savedTokens = [];
    this.invalidated = [];
  }

  get clientMetadata() {
    return {
      client_name: 'MCP SDK interop test',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'openid profile email',
    };
  }

  state() { this.lastState = randomUUID(); return this.lastState; }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.current; }
  saveTokens(tokens) { this.current = tokens; this.savedTokens.push(tokens); }
  redirectToAuthorization(url) { this.authorizationUrls.push(new URL(url)); }
  saveCodeVerifier(verifier) { this.verifier = verifier; }
  codeVerifier() { return this.verifier; }
  invalidateCredentials(what) { this.invalidated.push(what); }
}

/** A fetch that records every exchange the SDK makes (MCP and OAuth alike). */
function recordingFetch(log) {
  return async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const res = await fetch(input, init);
    const body = init.body === undefined ? undefined : String(init.body);
    log.push({
      method: (init.method ?? 'GET').toUpperCase(),
      url,
      status: res.status,
      form: body && /^[\w%.~+-]+=/.test(body) && !body.trimStart().startsWith('{') ? new URLSearchParams(body) : undefined,
      json: body && body.trimStart().startsWith('{') ? JSON.parse(body) : undefined,
      authorization: new Headers(init.headers).get('authorization'),
      wwwAuthenticate: res.headers.get('www-authenticate'),
    });
    return res;
  };
}

describe('MCP TypeScript SDK OAuth client against gptauth', () => {
  let gptauth, mcp, provider, jwks, log, redirectUrl;
  const state = {};
  let broken = false;
  // Each step needs the previous one: after a failure the rest are skipped, not run on garbage.
  const step = (name, body) => it(name, async (t) => {
    if (broken) return t.skip('an earlier step failed');
    try {
      await body(t);
    } catch (e) {
      broken = true;
      const text = gptauth?.log().trim();
      if (text && e instanceof Error) e.message += `\n--- gptauth log ---\n${text}`;
      throw e;
    }
  });

  before(async () => {
    // gptauth must know the MCP server as a resource any registered client may ask for.
    const mcpPort = await pickPort();
    gptauth = await startGptauth({ env: { GPTAUTH_RESOURCES: `http://127.0.0.1:${mcpPort}/mcp` } });
    mcp = await startMcpServer(gptauth.issuer, mcpPort);
    jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', gptauth.issuer));
    // Nothing listens here: the user agent reads the final Location itself.
    redirectUrl = `http://127.0.0.1:${await pickPort()}/callback`;
    provider = new MemoryProvider(redirectUrl);
    log = [];
  });

  after(async () => {
    await mcp?.close();
    await gptauth?.stop();
  });

  async function verifyAccessToken(token) {
    assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
    const { payload } = await jwtVerify(token, jwks, {
      issuer: gptauth.issuer, audience: mcp.url.href, typ: 'at+jwt', algorithms: ['ES256'],
    });
    return payload;
  }

  const tokenRequests = () => log.filter((r) => r.method === 'POST' && r.url.href === `${gptauth.issuer}/oauth/token`);

  step('an MCP request without a token gets 401 pointing at RFC 9728 metadata that names gptauth', async () => {
    const res = await fetch(mcp.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(res.status, 401);
    const challenge = res.headers.get('www-authenticate');
    assert.match(challenge, /^Bearer /);
    assert.ok(challenge.includes(`resource_metadata="${mcp.metadataUrl}"`), challenge);
    const prm = await (await fetch(mcp.metadataUrl)).json();
    assert.equal(prm.resource, mcp.url.href);
    assert.deepEqual(prm.authorization_servers, [gptauth.issuer]);
  });

  step('the SDK discovers gptauth from the 401, registers a public client and starts PKCE S256', async () => {
    const transport = new StreamableHTTPClientTransport(mcp.url, { authProvider: provider, fetch: recordingFetch(log) });
    const client = new Client({ name: 'gptauth-interop', version: '1.0.0' });
    await assert.rejects(client.connect(transport), UnauthorizedError);
    await client.close().catch(() => {});

    const first = log[0];
    assert.equal(first.url.href, mcp.url.href);
    assert.equal(first.status, 401);
    assert.ok(first.wwwAuthenticate?.includes(`resource_metadata="${mcp.metadataUrl}"`), first.wwwAuthenticate);
    const got = (href) => log.find((r) => r.url.href === href);
    assert.equal(got(mcp.metadataUrl)?.status, 200, 'protected resource metadata fetched');
    const asMeta = log.find((r) => r.url.origin === gptauth.issuer && r.url.pathname.startsWith('/.well-known/') && r.status === 200);
    assert.ok(asMeta, `gptauth's metadata fetched: ${log.map((r) => `${r.method} ${r.url} ${r.status}`).join(', ')}`);

    const registration = got(`${gptauth.issuer}/oauth/register`);
    assert.equal(registration?.status, 201, 'dynamic registration at gptauth');
    assert.equal(registration.json.token_endpoint_auth_method, 'none');
    assert.deepEqual(registration.json.redirect_uris, [redirectUrl]);
    assert.ok(provider.client?.client_id, 'client_id saved');
    assert.equal(provider.client.token_endpoint_auth_method, 'none');
    assert.equal(provider.client.client_secret, undefined, 'a public client has no secret');

    assert.equal(provider.authorizationUrls.length, 1);
    const authUrl = provider.authorizationUrls[0];
    assert.equal(`${authUrl.origin}${authUrl.pathname}`, `${gptauth.issuer}/oauth/authorize`);
    const q = authUrl.searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), provider.client.client_id);
    assert.equal(q.get('redirect_uri'), redirectUrl);
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.match(q.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(q.get('state'), provider.lastState);
    assert.equal(q.get('resource'), mcp.url.href, 'RFC 8707 resource = the MCP server');
    state.authUrl = authUrl;
  });

  step('the user signs in and consents on gptauth; it redirects back with code, state and iss', async () => {
    const ua = new UserAgent({ email: USER_EMAIL, password: USER_PASSWORD });
    const callback = await ua.authorize(state.authUrl);
    assert.equal(`${callback.origin}${callback.pathname}`, redirectUrl);
    const p = callback.searchParams;
    assert.equal(p.get('error'), null,
      `gptauth refused the authorization request: error=${p.get('error')} error_description=${p.get('error_description')}` +
      ` (request: ${state.authUrl.href})`);
    assert.deepEqual(ua.pages, ['login', 'consent']);
    for (const form of ua.submitted) assert.ok(form.fields.includes('csrf_token'), `${form.page} form carries csrf_token`);
    assert.ok(p.get('code'), 'code');
    assert.equal(p.get('state'), provider.lastState);
    assert.equal(p.get('iss'), gptauth.issuer, 'RFC 9207 iss');
    state.code = p.get('code');
  });

  step('finishAuth exchanges the code with the PKCE verifier for tokens bound to the MCP server', async () => {
    const transport = new StreamableHTTPClientTransport(mcp.url, { authProvider: provider, fetch: recordingFetch(log) });
    await transport.finishAuth(state.code);

    const [exchange] = tokenRequests();
    assert.equal(exchange?.status, 200, 'token request answered 200');
    assert.equal(exchange.form.get('grant_type'), 'authorization_code');
    assert.equal(exchange.form.get('code'), state.code);
    assert.equal(exchange.form.get('code_verifier'), provider.verifier);
    assert.equal(exchange.form.get('resource'), mcp.url.href);
    assert.equal(exchange.form.get('client_secret'), null);

    const tokens = provider.tokens();
    assert.ok(tokens?.access_token && tokens.refresh_token, 'access and refresh token saved');
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.equal(typeof tokens.expires_in, 'number');
    const claims = await verifyAccessToken(tokens.access_token);
    assert.equal(claims.sub, gptauth.user.id, 'sub is the CLI-created user');
    assert.equal(claims.client_id, provider.client.client_id);
    state.first = { tokens: { ...tokens }, claims };
  });

  step('an authenticated MCP session lists the tools and calls one as that user', async () => {
    const transport = new StreamableHTTPClientTransport(mcp.url, { authProvider: provider, fetch: recordingFetch(log) });
    const client = new Client({ name: 'gptauth-interop', version: '1.0.0' });
    const before = mcp.accepted.length;
    await client.connect(transport);
    const { tools } = await client.listTools();
    assert.ok(tools.some((tool) => tool.name === 'whoami'), JSON.stringify(tools));
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    assert.notEqual(result.isError, true, JSON.stringify(result));
    const who = JSON.parse(result.content[0].text);
    assert.deepEqual(who, { sub: gptauth.user.id, client_id: provider.client.client_id });
    assert.ok(mcp.accepted.length > before, 'the MCP server validated the token');
    assert.equal(provider.savedTokens.length, 1, 'no refresh was needed');
    state.client = client;
  });

  step('when the MCP server refuses the access token, the SDK refreshes (rotating) and the call succeeds', async () => {
    // The access token stops being accepted (as if it had expired); the refresh token stays.
    provider.current = { ...provider.current, access_token: 'no-longer-accepted' };
    const refreshesBefore = tokenRequests().length;

    const result = await state.client.callTool({ name: 'whoami', arguments: {} });
    assert.notEqual(result.isError, true, JSON.stringify(result));
    assert.equal(JSON.parse(result.content[0].text).sub, gptauth.user.id);

    const refreshes = tokenRequests().slice(refreshesBefore);
    assert.equal(refreshes.length, 1, 'exactly one token request: the refresh');
    const [refresh] = refreshes;
    assert.equal(refresh.status, 200);
    assert.equal(refresh.form.get('grant_type'), 'refresh_token');
    assert.equal(refresh.form.get('refresh_token'), state.first.tokens.refresh_token);
    assert.equal(refresh.form.get('resource'), mcp.url.href);
    assert.deepEqual(provider.invalidated, [], 'the SDK did not have to throw credentials away');

    const renewed = provider.tokens();
    assert.notEqual(renewed.access_token, state.first.tokens.access_token);
    assert.notEqual(renewed.refresh_token, state.first.tokens.refresh_token, 'refresh token rotated');
    const claims = await verifyAccessToken(renewed.access_token);
    assert.equal(claims.sub, state.first.claims.sub, 'the same sub after refresh');
    assert.notEqual(claims.jti, state.first.claims.jti);
    await state.client.close();
  });
});
