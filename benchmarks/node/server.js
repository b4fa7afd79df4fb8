// The benchmark app (see ../internal/stacks) on express-session, for the
// side-by-side run. STORE=file uses session-file-store (one JSON file per
// session, written with fsync) in DIR; STORE=redis uses connect-redis on
// REDIS_URL. It prints "listening on HOST:PORT" once it accepts connections.
//
//   STORE=file DIR=/tmp/s node server.js
//   STORE=redis REDIS_URL=redis://127.0.0.1:6379 node server.js
import express from "express";
import session from "express-session";
import fileStoreFactory from "session-file-store";
import { RedisStore } from "connect-redis";
import { createClient } from "redis";

const kind = process.env.STORE || "file";
let store;
let redisClient;
if (kind === "file") {
  const FileStore = fileStoreFactory(session);
  store = new FileStore({
    path: process.env.DIR || "./sessions",
    reapInterval: -1, // no reaping during a measurement
    logFn: () => {},
  });
} else if (kind === "redis") {
  redisClient = createClient({ url: process.env.REDIS_URL });
  redisClient.on("error", (err) => console.error("redis:", err.message));
  await redisClient.connect();
  store = new RedisStore({ client: redisClient });
} else {
  console.error(`unknown STORE ${kind} (file or redis)`);
  process.exit(2);
}

const app = express();
app.disable("x-powered-by");

// How many /count requests were answered 200 (counted outside the session
// middleware), so a run can tell acknowledged increments from stored ones.
let handled = 0;
app.get("/handled", (req, res) => res.json({ count: handled }));
app.use("/count", (req, res, next) => {
  res.on("finish", () => {
    if (res.statusCode === 200) handled++;
  });
  next();
});
app.use(
  session({
    name: "sid",
    secret: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 24 * 60 * 60 * 1000, httpOnly: true, sameSite: "lax" },
    store,
  }),
);

app.get("/seed", (req, res) => {
  for (let i = 0; i < 10; i++) {
    req.session["k" + i] = "value-" + String(i).padStart(10, "0");
  }
  req.session.count = 0;
  res.json({ count: 0 });
});

app.get("/read", (req, res) => {
  if (req.session.k0 === undefined) {
    res.status(404).send("no session\n");
    return;
  }
  res.json({ count: req.session.count });
});

app.get("/count", (req, res) => {
  if (req.session.k0 === undefined) {
    res.status(404).send("no session\n");
    return;
  }
  req.session.count += 1;
  res.json({ count: req.session.count });
});

const server = app.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  const a = server.address();
  console.log(`listening on ${a.address}:${a.port}`);
});

function shutdown() {
  server.close(async () => {
    if (redisClient) await redisClient.quit();
    process.exit(0);
  });
  server.closeAllConnections();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
