// Reads {sign: [{id, secret}], unsign: [{value, secrets}]} as JSON on stdin
// and answers, for each cookie-signature version installed (the one
// express-session 1.x uses and the one express 5 uses), what express-session
// would write and what it would accept:
//   sign:   encodeURIComponent('s:' + sign(id, secret))
//   unsign: decodeURIComponent when the value has '%', require 's:', then
//           try each secret in order; false when none verifies.
'use strict';
const path = require('path');

const versions = {
  session: require('cookie-signature'),
  express: require(require.resolve('cookie-signature', {
    paths: [path.dirname(require.resolve('express/package.json'))],
  })),
};

function decode(v) {
  if (v.indexOf('%') === -1) return v;
  try { return decodeURIComponent(v); } catch (e) { return v; }
}

let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const req = JSON.parse(input);
  const out = {};
  for (const [name, sig] of Object.entries(versions)) {
    out[name] = {
      sign: req.sign.map(({ id, secret }) => encodeURIComponent('s:' + sig.sign(id, secret))),
      unsign: req.unsign.map(({ value, secrets }) => {
        const raw = decode(value);
        if (raw.substr(0, 2) !== 's:') return false;
        for (const s of secrets) {
          const id = sig.unsign(raw.slice(2), s);
          if (id !== false) return id;
        }
        return false;
      }),
    };
  }
  process.stdout.write(JSON.stringify(out));
});
