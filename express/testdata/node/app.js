// An express app that keeps its sessions with session-file-store, set up as
// the express-session and session-file-store READMEs show. boltsession's
// migration tests run it, import its session directory and serve its users
// from Go.
//
// Environment: SESSION_DIR (default ./sessions), SESSION_SECRET (default
// "keyboard cat"), COOKIE_MAX_AGE in ms (default none: a browser-session
// cookie, expiry by the store's ttl), STORE_SECRET (turns on
// session-file-store's encryption), PORT (default 0: any free port; the
// chosen one is printed as "listening on <port>").
'use strict';
const express = require('express');
const session = require('express-session');
const FileStore = require('session-file-store')(session);

function createApp(env) {
  const fileStoreOptions = { path: env.SESSION_DIR || './sessions', logFn() {} };
  if (env.STORE_SECRET) fileStoreOptions.secret = env.STORE_SECRET;

  const cookie = {};
  if (env.COOKIE_MAX_AGE) cookie.maxAge = Number(env.COOKIE_MAX_AGE);

  const app = express();
  app.use(session({
    store: new FileStore(fileStoreOptions),
    secret: env.SESSION_SECRET || 'keyboard cat',
    resave: false,
    saveUninitialized: false,
    cookie,
  }));

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
