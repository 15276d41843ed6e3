// panva's oidc-provider, configured as close to gptauth as it allows, for bench/run.sh.
// In-memory adapter (a Map, below): the peer's fastest setting. No HTML: the interaction route
// signs in the fixed benchmark user and grants consent on its own (devInteractions disabled).
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 8090);
const ISSUER = process.env.ISSUER || `http://127.0.0.1:${PORT}`;
const CLIENT_ID = process.env.CLIENT_ID || 'bench-client';
const CLIENT_SECRET = process.env.CLIENT_SECRET || 'bench-secret-0123456789abcdef0123456789';
const REDIRECT_URI = process.env.REDIRECT_URI || 'https://chatgpt.com/aip/g-bench/oauth/callback';
const RESOURCE = process.env.RESOURCE || 'https://api.bench.example';
const SUB = 'bench-user';
const EMAIL = process.env.EMAIL || 'bench@example.com';

// One fresh ES256 signing key per start (gptauth signs its tokens with ES256).
const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
Object.assign(jwk, { kid: 'bench-es256', alg: 'ES256', use: 'sig' });

// An unbounded in-memory adapter (a Map). oidc-provider's built-in development adapter is an LRU of
// 1,000 entries: under the refresh load it evicted the sessions and grants of idle users, whose
// refresh tokens then failed with invalid_grant. Nothing here is swept before it expires, like a
// database; rotated refresh tokens stay (consumed) for reuse detection, as oidc-provider intends.
const store = new Map();
const grantIndex = new Map();
class MemoryAdapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    if (this.model === 'Session') store.set(`sessionUid:${payload.uid}`, id);
    if (payload.grantId) {
      let keys = grantIndex.get(payload.grantId);
      if (!keys) grantIndex.set(payload.grantId, (keys = []));
      keys.push(key);
    }
  }
  async find(id) {
    const key = this.key(id);
    const e = store.get(key);
    if (!e) return undefined;
    if (e.exp < Date.now()) { store.delete(key); return undefined; }
    return e.payload;
  }
  async findByUid(uid) { const id = store.get(`sessionUid:${uid}`); return id ? this.find(id) : undefined; }
  async findByUserCode() { return undefined; }
  async consume(id) { const e = store.get(this.key(id)); if (e) e.payload.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const key of grantIndex.get(grantId) || []) store.delete(key);
    grantIndex.delete(grantId);
  }
}

const provider = new Provider(ISSUER, {
  adapter: MemoryAdapter,
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [jwk] },
  async findAccount(ctx, id) {
    if (id !== SUB) return undefined;
    return { accountId: id, async claims() { return { sub: id, email: EMAIL, email_verified: true }; } };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'offline_access', 'email', 'api'],
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    // ES256 JWT access tokens for one resource server, chosen when the request names none.
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: RESOURCE,
        accessTokenTTL: 3600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  pkce: { required: () => false },
  // Rotation on every use, and a refresh token for every code of this client (gptauth issues one
  // with every code; oidc-provider's default asks for offline_access + prompt=consent).
  rotateRefreshToken: true,
  async issueRefreshToken(ctx, client) { return client.grantTypeAllowed('refresh_token'); },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    RefreshToken: 90 * 24 * 3600,
    IdToken: 3600,
    Interaction: 600,
    Session: 14 * 24 * 3600,
    Grant: 90 * 24 * 3600,
  },
  cookies: { keys: ['gptauth-bench-cookie-key-not-secret'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: SUB } }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  res.statusCode = 400;
  res.end(`unsupported prompt ${prompt.name}`);
}

const handler = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      console.error(err);
      res.statusCode = 500;
      res.end(String(err));
    });
    return;
  }
  handler(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, '127.0.0.1', () => console.log(`oidc-provider peer on ${ISSUER}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
