// Writes the session-file-store fixtures of boltsession's importer tests
// into testdata/filestore (run from testdata/node: node make-filestore-fixtures.js).
// Every file in that directory except corrupt-*.json comes from the real
// packages through real HTTP requests; the corrupt ones are derived here.
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');
const { createApp } = require('./app');

const out = path.resolve(__dirname, '..', 'filestore');

function request(port, method, url, cookie) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: url, headers: cookie ? { cookie } : {} }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => {
        const set = (res.headers['set-cookie'] || [])[0];
        resolve({ status: res.statusCode, body: JSON.parse(body), cookie: set ? set.split(';')[0] : cookie });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function withApp(env, fn) {
  const server = createApp(env).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try { return await fn(server.address().port); } finally { server.close(); }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const cookies = {};

  // A user with a one-day cookie who came back twice.
  await withApp({ SESSION_DIR: out, COOKIE_MAX_AGE: '86400000' }, async (port) => {
    let r = await request(port, 'POST', '/login?user=alice');
    await request(port, 'GET', '/view', r.cookie);
    await request(port, 'GET', '/view', r.cookie);
    cookies.alice = r.cookie;
  });
  // A browser-session cookie: no originalMaxAge, the store's ttl applies.
  await withApp({ SESSION_DIR: out }, async (port) => {
    const r = await request(port, 'POST', '/login?user=bob');
    cookies.bob = r.cookie;
  });
  // A session that expired: a 1 ms cookie.
  await withApp({ SESSION_DIR: out, COOKIE_MAX_AGE: '1' }, async (port) => {
    const r = await request(port, 'POST', '/login?user=carol');
    cookies.carol = r.cookie;
    await sleep(5);
  });
  // session-file-store's encryption (the `secret` option).
  const encDir = path.join(out, 'tmp-encrypted');
  await withApp({ SESSION_DIR: encDir, COOKIE_MAX_AGE: '86400000', STORE_SECRET: 'file secret' }, async (port) => {
    await request(port, 'POST', '/login?user=dave');
  });
  for (const f of fs.readdirSync(encDir)) fs.renameSync(path.join(encDir, f), path.join(out, f));
  fs.rmSync(encDir, { recursive: true });

  const names = fs.readdirSync(out).filter((f) => f.endsWith('.json'));
  const byUser = {};
  for (const f of names) {
    const text = fs.readFileSync(path.join(out, f), 'utf8');
    try {
      const s = JSON.parse(text);
      if (s.user) byUser[s.user.name] = f;
      else byUser.dave = f;
    } catch (e) { /* not expected */ }
  }
  // Corrupt files: what a crash mid-write or a stray edit leaves behind.
  const alice = fs.readFileSync(path.join(out, byUser.alice), 'utf8');
  fs.writeFileSync(path.join(out, 'corruptTruncatedAAAAAAAAAAAAAAAA.json'), alice.slice(0, alice.length / 2));
  fs.writeFileSync(path.join(out, 'corruptNotAnObjectAAAAAAAAAAAAAA.json'), '[1,2,3]');
  fs.writeFileSync(path.join(out, 'corruptBadLastAccessAAAAAAAAAAAA.json'), alice.replace(/"__lastAccess":\d+/, '"__lastAccess":"yesterday"'));
  fs.writeFileSync(path.join(out, 'MANIFEST'), JSON.stringify({ files: byUser, cookies, secret: 'keyboard cat' }, null, 2) + '\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
