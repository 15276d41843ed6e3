// A protected MCP server, built with the MCP SDK's server side, that trusts gptauth: it
// validates gptauth's JWT access tokens offline against gptauth's JWKS with `jose` (iss, aud =
// its own URL, typ at+jwt, ES256), answers 401 with
// `WWW-Authenticate: Bearer resource_metadata="…"` and serves its RFC 9728 protected resource
// metadata naming gptauth as its authorization server.

import http from 'node:http';
import express from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';

/**
 * Starts the MCP server on a free loopback port. `issuer` is gptauth's base URL.
 * Resolves with { url (the MCP endpoint, also the resource identifier), metadataUrl,
 * seen (tokens it accepted, decoded), close }.
 */
export async function startMcpServer(issuer, port = 0) {
  const asMetadata = await (await fetch(new URL('/.well-known/oauth-authorization-server', issuer))).json();
  const jwks = createRemoteJWKSet(new URL(asMetadata.jwks_uri));

  const app = express();
  const server = http.createServer(app);
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  const url = new URL(`http://127.0.0.1:${server.address().port}/mcp`);
  const metadataUrl = getOAuthProtectedResourceMetadataUrl(url);
  const accepted = [];
  const refused = [];

  const verifier = {
    async verifyAccessToken(token) {
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer: asMetadata.issuer,
          audience: url.href,
          typ: 'at+jwt',
          algorithms: ['ES256'],
          requiredClaims: ['sub', 'exp', 'client_id'],
        });
        accepted.push(payload);
        return {
          token,
          clientId: payload.client_id,
          scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
          expiresAt: payload.exp,
          resource: new URL(payload.aud),
          extra: { sub: payload.sub },
        };
      } catch (e) {
        refused.push(e.code ?? e.message);
        throw new InvalidTokenError(`token refused: ${e.code ?? e.message}`);
      }
    },
  };

  // RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp
  app.use(mcpAuthMetadataRouter({
    oauthMetadata: asMetadata,
    resourceServerUrl: url,
    resourceName: 'gptauth interop test MCP server',
  }));

  const bearer = requireBearerAuth({ verifier, resourceMetadataUrl: metadataUrl, expectedResource: url });

  app.post('/mcp', express.json(), bearer, async (req, res) => {
    // Stateless: one McpServer and transport per request.
    const mcp = new McpServer({ name: 'gptauth-interop', version: '1.0.0' });
    mcp.registerTool('whoami', {
      description: 'Who the bearer of the access token is, according to the token',
    }, async (extra) => {
      const who = { sub: extra.authInfo?.extra?.sub, client_id: extra.authInfo?.clientId };
      return { content: [{ type: 'text', text: JSON.stringify(who) }], structuredContent: who };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => { transport.close(); mcp.close(); });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  // Stateless server: no SSE stream, no session to end.
  app.all('/mcp', bearer, (req, res) => res.status(405).set('allow', 'POST').end());

  return {
    url,
    metadataUrl,
    accepted,
    refused,
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}
