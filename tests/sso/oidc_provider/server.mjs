// A real OpenID provider (panva/oidc-provider, OpenID-certified) for the SSO tests, on loopback.
// Started by tests/sso/oidc_provider.py; prints one JSON line {"issuer": ...} once it listens.
// Environment: CLIENTS (JSON list of client metadata), ACCOUNTS_FILE (JSON {id: claims}, read at
// every sign-in so a test can change someone's groups), JWKS (JSON {keys: [...]}, optional).
import http from "node:http";
import fs from "node:fs";
import Provider from "oidc-provider";

const clients = JSON.parse(process.env.CLIENTS);
const accountsFile = process.env.ACCOUNTS_FILE;
const jwks = process.env.JWKS ? JSON.parse(process.env.JWKS) : undefined;

const server = http.createServer();
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients,
    ...(jwks ? { jwks } : {}),
    cookies: { keys: ["quorum-test-cookie-key"] },
    pkce: { required: () => true },
    scopes: ["openid", "email", "profile", "groups"],
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["preferred_username", "given_name", "family_name"],
      groups: ["groups"],
    },
    async findAccount(ctx, id) {
      const accounts = JSON.parse(fs.readFileSync(accountsFile, "utf8"));
      if (!accounts[id]) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
    },
  });
  server.on("request", provider.callback());
  process.stdout.write(JSON.stringify({ issuer }) + "\n");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
