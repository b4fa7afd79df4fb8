'use strict';
// Writes session files encrypted the way session-file-store 1.5.0 does with
// its `secret` option (through its own dependency, kruptein 2.x), one
// directory per set of `crypto` options, and prints on stdout a JSON report:
// for each directory the crypto option given to session-file-store and, for
// each file, the session JSON that session-file-store encrypted into it.
//
//     node make-encrypted-fixtures.js OUTDIR [SECRET]
//
// Every file is read back through session-file-store before the report is
// printed, so a file Node itself cannot decrypt fails the script.
//
// Variants marked "deterministic" are written with crypto.randomBytes
// replaced by a fixed byte stream (byte n of the stream is (n*151+17) mod
// 256, counted from 0 for each file), so a reimplementation of kruptein's
// encryption can be checked byte for byte against them.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const session = require('express-session');
const FileStore = require('session-file-store')(session);

const outDir = process.argv[2];
const secret = process.argv[3] || 'boltsession test secret (not for production)';
if (!outDir) {
  console.error('usage: node make-encrypted-fixtures.js OUTDIR [SECRET]');
  process.exit(2);
}

// The sessions an express-session app could hold: every JSON type, nested
// values, text outside ASCII, and both kinds of cookie.
function sessions() {
  const remembered = new session.Cookie({ maxAge: 14 * 24 * 3600 * 1000, secure: true, sameSite: 'lax', domain: 'example.com' });
  const browser = new session.Cookie(); // no maxAge: a browser-session cookie
  return {
    aliceAAAAAAAAAAAAAAAAAAAAAAAAAAA: {
      cookie: new session.Cookie({ maxAge: 60000 }),
      user: { id: 42, name: 'alice', email: 'alice@example.com', roles: ['admin', 'dev'] },
      views: 7,
      admin: true,
    },
    bobBBBBBBBBBBBBBBBBBBBBBBBBBBBBB: {
      cookie: browser,
      passport: { user: 'bob' },
      cart: [{ sku: 'A-1', qty: 2, price: 9.99 }, { sku: 'B-2', qty: 1, price: 0.5 }],
      coupon: null,
      flash: [],
    },
    carolCCCCCCCCCCCCCCCCCCCCCCCCCCC: {
      cookie: remembered,
      greeting: 'h\u00e9llo w\u00f6rld \u2603 \ud83d\ude00 "quoted" back\\slash\ttab\nnewline \u0001 \u007f \u00ff',
      numbers: { zero: 0, negative: -17, fraction: -0.25, big: 9007199254740991, exp: 1e21, tiny: 5e-324 },
      flags: { yes: true, no: false },
      nested: { a: { b: { c: [1, 'two', null, { d: [true] }] } } },
      empty: { obj: {}, str: '' },
    },
    daveDDDDDDDDDDDDDDDDDDDDDDDDDDDD: {
      cookie: new session.Cookie({ maxAge: 3600000, httpOnly: false, path: '/app' }),
      csrfSecret: 'Zm9vYmFyYmF6cXV4',
      lastVisit: new Date(Date.UTC(2026, 10, 26, 11, 50, 16, 339)),
      count: 1,
    },
  };
}

// Each variant is what an app passed as session-file-store's `crypto` option
// (none: left unset; null: set to null, which hands kruptein no options at
// all). session-file-store merges options shallowly, so a
// `crypto` object replaces its defaults (aes-256-gcm, sha512, use_scrypt)
// as a whole: kruptein's own defaults (pbkdf2, encodeas "binary") then fill
// in whatever it leaves out.
const variants = [
  { name: 'defaults', sessions: 'all' },
  { name: 'gcm128-sha256-hex-scrypt', crypto: { algorithm: 'aes-128-gcm', hashing: 'sha256', encodeas: 'hex', use_scrypt: true } },
  { name: 'gcm256-base64-pbkdf2', crypto: { encodeas: 'base64' } },
  { name: 'gcm192-sha3-base64url-tag12', crypto: { algorithm: 'aes-192-gcm', hashing: 'sha3-256', encodeas: 'base64url', use_scrypt: true, _at_size: 12 } },
  { name: 'cbc256-sha384-hex-scrypt', crypto: { algorithm: 'aes-256-cbc', hashing: 'sha384', encodeas: 'hex', use_scrypt: true } },
  { name: 'ctr192-sha1-latin1-pbkdf2', crypto: { algorithm: 'aes-192-ctr', hashing: 'sha1', encodeas: 'latin1' } },
  { name: 'cfb128-sha512-base64', crypto: { algorithm: 'aes-128-cfb', encodeas: 'base64', use_scrypt: true } },
  { name: 'ofb256-sha224-pbkdf2', crypto: { algorithm: 'aes-256-ofb', hashing: 'sha224' } },
  { name: 'aes256-alias-md5', crypto: { algorithm: 'aes256', hashing: 'md5', encodeas: 'hex' } },
  { name: 'asn1-defaults', crypto: { algorithm: 'aes-256-gcm', hashing: 'sha512', use_scrypt: true, use_asn1: true } },
  { name: 'asn1-cbc128-hex', crypto: { algorithm: 'aes-128-cbc', hashing: 'sha256', encodeas: 'hex', use_asn1: true } },
  { name: 'deterministic-defaults', deterministic: true },
  { name: 'crypto-null-is-kruptein-defaults', crypto: null },
  { name: 'deterministic-gcm128-hex-pbkdf2', crypto: { algorithm: 'aes-128-gcm', hashing: 'sha256', encodeas: 'hex' }, deterministic: true },
  { name: 'deterministic-asn1-cbc', crypto: { algorithm: 'aes-256-cbc', use_asn1: true, use_scrypt: true }, deterministic: true },
];

const realRandomBytes = crypto.randomBytes;
function fixedRandomBytes() {
  let n = 0;
  return function randomBytes(size, cb) {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++, n++) b[i] = (n * 151 + 17) & 0xff;
    if (cb) return process.nextTick(cb, null, b);
    return b;
  };
}

function call(fn) {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

async function writeVariant(v) {
  const dir = path.join(outDir, v.name);
  const opts = { path: dir, secret, reapInterval: -1, retries: 0, logFn() {} };
  if ('crypto' in v) opts.crypto = v.crypto;
  const store = new FileStore(opts);
  let all = sessions();
  let ids = Object.keys(all);
  if (v.deterministic) ids = ids.slice(2, 3);
  else if (v.sessions !== 'all') ids = [ids[0], ids[2]];
  const files = {};
  for (const id of ids) {
    const sess = all[id];
    if (v.deterministic) crypto.randomBytes = fixedRandomBytes();
    try {
      await call((cb) => store.set(id, sess, cb)); // sets sess.__lastAccess
    } finally {
      crypto.randomBytes = realRandomBytes;
    }
    // JSON.stringify is what session-file-store's default encoder ran.
    const json = JSON.stringify(sess);
    const back = await call((cb) => store.get(id, cb));
    if (JSON.stringify(back) !== json) throw new Error(`${v.name}/${id}: session-file-store read back ${JSON.stringify(back)}, wrote ${json}`);
    files[id + '.json'] = json;
  }
  return { name: v.name, crypto: v.crypto, deterministic: !!v.deterministic, files };
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const report = {
    generator: {
      node: process.version,
      'session-file-store': require('session-file-store/package.json').version,
      kruptein: require('kruptein/package.json').version,
    },
    secret,
    variants: [],
  };
  for (const v of variants) report.variants.push(await writeVariant(v));
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
})().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
