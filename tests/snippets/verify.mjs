// Worker for check.py: imports the README's Node snippet (the module path is argv[2]) and runs its
// `userId` on the tokens it is sent, one JSON object a line on stdin:
//   {"id": "...", "authorization": "Bearer ..."}
// and answers each with one JSON line on stdout:
//   {"id": "...", "ok": true, "sub": "..."}                              accepted
//   {"id": "...", "ok": false, "error": "JWTExpired", "code": "...", "message": "..."}   threw
// Every request is answered as soon as it settles, so several may be in flight at once.
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const snippet = await import(pathToFileURL(process.argv[2]).href);
if (typeof snippet.userId !== 'function') {
  console.error('verify.mjs: the README snippet exports no function userId');
  process.exit(2);
}

const answer = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
answer({ ready: true });

const pending = [];
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { id, authorization } = JSON.parse(line);
  pending.push((async () => {
    try {
      const sub = await snippet.userId(authorization);
      answer({ id, ok: true, sub });
    } catch (e) {
      answer({
        id,
        ok: false,
        error: e?.constructor?.name ?? typeof e,
        code: e?.code ?? null,
        message: String(e?.message ?? e),
      });
    }
  })());
}
await Promise.all(pending);
