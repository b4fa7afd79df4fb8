// An express app that keeps its sessions with session-file-store, set up as
// the express-session and session-file-store READMEs show. boltsession's
// migration tests run it, import its session directory and serve its users
// from Go; its differential test runs it in every configuration below
// beside a Go Manager and compares what a client sees.
//
// Environment: SESSION_DIR (default ./sessions), SESSION_SECRET (default
// "keyboard cat"), COOKIE_MAX_AGE in ms (default none: a browser-session
// cookie, expiry by the store's ttl), STORE_SECRET (turns on
// session-file-store's encryption), PORT (default 0: any free port; the
// chosen one is printed as "listening on <port>").
//
// For the differential test: STORE ("file", the default: session-file-store;
// "memory": express-session's own MemoryStore), STORE_TTL (session-file-store's
// ttl, in seconds; default its own, 3600), STORE_RETRIES (session-file-store's
// retries; default its own, 5), and RESAVE, ROLLING, SAVE_UNINITIALIZED:
// "true" or "false", or "default" to leave the option out so that
// express-session's own default applies (true for resave and
// saveUninitialized, with a deprecation warning); unset means false.
'use strict';
const express = require('express');
const session = require('express-session');
const FileStore = require('session-file-store')(session);

// sessionFlag reads an on/off option of express-session from env into opts.
function sessionFlag(opts, name, value) {
  switch (value === undefined ? 'false' : value) {
    case 'true': opts[name] = true; break;
    case 'false': case '': opts[name] = false; break;
    case 'default': break; // left out: express-session's default
    default: throw new Error(`${name}: want true, false or default, got ${JSON.stringify(value)}`);
  }
}

function createApp(env) {
  const fileStoreOptions = { path: env.SESSION_DIR || './sessions', logFn() {} };
  if (env.STORE_SECRET) fileStoreOptions.secret = env.STORE_SECRET;
  if (env.STORE_TTL) fileStoreOptions.ttl = Number(env.STORE_TTL);
  if (env.STORE_RETRIES) fileStoreOptions.retries = Number(env.STORE_RETRIES);
  let store;
  switch (env.STORE || 'file') {
    case 'file': store = new FileStore(fileStoreOptions); break;
    case 'memory': store = new session.MemoryStore(); break;
    default: throw new Error(`STORE: want file or memory, got ${JSON.stringify(env.STORE)}`);
  }

  const cookie = {};
  if (env.COOKIE_MAX_AGE) cookie.maxAge = Number(env.COOKIE_MAX_AGE);

  const options = { store, secret: env.SESSION_SECRET || 'keyboard cat', cookie };
  sessionFlag(options, 'resave', env.RESAVE);
  sessionFlag(options, 'rolling', env.ROLLING);
  sessionFlag(options, 'saveUninitialized', env.SAVE_UNINITIALIZED);

  const app = express();

  // The stored expiry of a session, in ms since the epoch (null: it never
  // expires), as the store itself judges it: MemoryStore by cookie.expires,
  // session-file-store by __lastAccess + (cookie.originalMaxAge or ttl).
  // Mounted before the session middleware, so that looking touches nothing.
  app.get('/debug/expiry', (req, res, next) => {
    store.get(String(req.query.id), (err, sess) => {
      if (err && err.code !== 'ENOENT') return next(err);
      if (!sess) return res.json({ found: false });
      let expires = null;
      if (store instanceof session.MemoryStore) {
        if (sess.cookie && sess.cookie.expires) expires = Date.parse(sess.cookie.expires);
      } else {
        const ttl = (sess.cookie && sess.cookie.originalMaxAge) || (fileStoreOptions.ttl || 3600) * 1000;
        expires = sess.__lastAccess + ttl;
      }
      res.json({ found: true, expires });
    });
  });

  app.use(session(options));

  // The differential test's requests. Each answers the ID the request
  // loaded, the ID it ends with, and the session's values before and after
  // (without the cookie, and without session-file-store's __lastAccess).
  const values = (sess) => {
    if (!sess) return {};
    const { cookie: _c, __lastAccess: _l, ...data } = sess;
    return JSON.parse(JSON.stringify(data));
  };
  app.post('/diff/:op', (req, res, next) => {
    const loaded = req.sessionID;
    const before = values(req.session);
    const reply = (err) => {
      if (err) return next(err);
      res.json({ loaded, id: req.sessionID, before, after: values(req.session) });
    };
    switch (req.params.op) {
      case 'read': return reply();
      case 'modify':
        req.session.steps = (req.session.steps || []).concat([Number(req.query.n)]);
        return reply();
      case 'logout': return req.session.destroy(reply);
      case 'regenerate': return req.session.regenerate(reply);
      default: return res.status(404).json({ error: 'unknown operation' });
    }
  });

  // The values a typical app keeps: a user object, counters, flags, lists.
  app.post('/login', (req, res) => {
    const name = req.query.user || 'alice';
    req.session.user = { id: 42, name, email: name + '@example.com', roles: ['admin', 'dev'] };
    req.session.views = 1;
    req.session.theme = 'dark';
    req.session.remember = true;
    req.session.balance = 12.5;
    req.session.cart = [{ sku: 'A-1', qty: 2 }, { sku: 'B-7', qty: 1 }];
    req.session.lastPage = null;
    res.json({ ok: true, id: req.sessionID });
  });

  app.get('/view', (req, res) => {
    req.session.views = (req.session.views || 0) + 1;
    res.json({ views: req.session.views });
  });

  app.get('/whoami', (req, res) => {
    const { cookie: _, ...data } = req.session;
    res.json({ id: req.sessionID, data });
  });

  app.post('/logout', (req, res) => {
    req.session.destroy((err) => res.status(err ? 500 : 200).json({ ok: !err }));
  });
  return app;
}

module.exports = { createApp };

if (require.main === module) {
  const server = createApp(process.env).listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
    console.log('listening on ' + server.address().port);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
