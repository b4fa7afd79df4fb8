// Runs app.js's app once for each configuration of boltsession's
// differential test, all in this one process (a Node start costs far more
// than a server): DIFF_CONFIGS is a JSON array of environments, each a
// {"NAME": "value"} object laid over this process's environment, as app.js
// reads it. Once every server listens, prints "listening on <port>" for
// each, in the order of DIFF_CONFIGS.
'use strict';
const { createApp } = require('./app');

const configs = JSON.parse(process.env.DIFF_CONFIGS || '[]');
const servers = configs.map((env) => createApp({ ...process.env, ...env }).listen(0, '127.0.0.1'));
Promise.all(servers.map((s) => new Promise((resolve, reject) => {
  s.once('listening', resolve);
  s.once('error', reject);
}))).then(() => {
  for (const s of servers) console.log('listening on ' + s.address().port);
}, (err) => {
  console.error(err);
  process.exit(1);
});
process.on('SIGTERM', () => {
  let open = servers.length;
  for (const s of servers) {
    s.close(() => { if (--open === 0) process.exit(0); });
    s.closeAllConnections();
  }
});
