// An express 5 app that keeps its sessions in Redis with connect-redis 10
// and the node-redis client, set up as the connect-redis README shows.
// redisstore's tests run it beside a Go app on the same Redis, with the same
// secret and cookie name, and send one user's requests to both in turn.
//
// Environment: REDIS_URL (required), SESSION_SECRET (default "keyboard
// cat"), COOKIE_MAX_AGE in ms (default none: a browser-session cookie),
// PREFIX (connect-redis's prefix, default its own "sess:"), PORT (default 0:
// any free port; the chosen one is printed as "listening on <port>").
'use strict';
const express = require('express');
const session = require('express-session');
const { RedisStore } = require('connect-redis');
const { createClient } = require('redis');

async function createApp(env) {
  const client = createClient({ url: env.REDIS_URL });
  client.on('error', (err) => console.error('redis client:', err.message));
  await client.connect();
  const storeOptions = { client };
  if (env.PREFIX) storeOptions.prefix = env.PREFIX;
  const store = new RedisStore(storeOptions);

  const cookie = { sameSite: 'lax' };
  if (env.COOKIE_MAX_AGE) cookie.maxAge = Number(env.COOKIE_MAX_AGE);

  const app = express();
  app.use(session({
    store,
    secret: env.SESSION_SECRET || 'keyboard cat',
    resave: false,
    saveUninitialized: false,
    cookie,
  }));

  // Signs a user in the way the express-session README does: a new
  // session ID (regenerate), then the values a typical app keeps.
  app.post('/login', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      const name = req.query.user || 'alice';
      req.session.user = { id: 42, name, roles: ['admin', 'dev'], address: { city: 'Lyon', zip: '69001' } };
      req.session.n = 0;
      req.session.str = 'node-login';
      req.session.flag = true;
      req.session.nothing = null;
      req.session.ratio = 0.5;
      req.session.list = ['n0'];
      res.json({ id: req.sessionID, data: data(req) });
    });
  });

  // Every value of the session, the cookie left out.
  app.get('/whoami', (req, res) => {
    res.json({ id: req.sessionID, data: data(req) });
  });

  // One step of the alternation: reads what the other side changed last
  // and changes every kind of value.
  app.post('/change', (req, res) => {
    if (!req.session.user) return res.status(401).json({ error: 'signed out', id: req.sessionID });
    const step = Number(req.query.step);
    const before = data(req);
    const s = req.session;
    s.n += 1;
    s.str = 'node-' + step;
    s.flag = !s.flag;
    s.nothing = s.nothing === null ? 'was-null' : null;
    s.ratio = s.ratio + 0.25;
    s.list = s.list.concat(['n' + step]);
    s.user = { ...s.user, address: { ...s.user.address, zip: String(69000 + step) }, lastBy: 'node' };
    res.json({ id: req.sessionID, before, data: data(req) });
  });

  app.post('/logout', (req, res) => {
    req.session.destroy((err) => res.status(err ? 500 : 200).json({ ok: !err }));
  });

  // connect-redis's own enumeration, which must keep working with the
  // keys the Go side leaves (markers, pending records).
  app.get('/all', (req, res, next) => {
    store.all((err, sessions) => {
      if (err) return next(err);
      store.length((err2, n) => {
        if (err2) return next(err2);
        res.json({ ids: sessions.map((s) => s.id).sort(), length: n });
      });
    });
  });

  app.use((err, req, res, next) => {
    res.status(500).json({ error: String(err && err.message) });
  });
  return { app, client };
}

// data is every session value: the cookie is express-session's, and
// __boltsession is where the Go side keeps a session's creation time and
// owner (an app leaves it alone, as it leaves the cookie).
function data(req) {
  const { cookie: _c, __boltsession: _b, ...rest } = req.session;
  return rest;
}

module.exports = { createApp };

if (require.main === module) {
  createApp(process.env).then(({ app, client }) => {
    const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
      console.log('listening on ' + server.address().port);
    });
    process.on('SIGTERM', () => server.close(() => client.quit().finally(() => process.exit(0))));
  }).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
