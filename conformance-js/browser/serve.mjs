#!/usr/bin/env node
// A tiny static server for the browser run: serves the files of one directory (index.html and
// the bundle) on 127.0.0.1, on a free port, so the page has an origin of its own, other than the
// emulator's. Prints one JSON line {"origin":"http://127.0.0.1:PORT"} when it listens, and runs
// until it is stopped (SIGTERM/SIGINT).
//
// Usage: node serve.mjs DIR
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
};

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node serve.mjs DIR");
  process.exit(2);
}
const root = resolve(dir);

const server = createServer(async (req, res) => {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  let path;
  try {
    path = decodeURIComponent(new URL(req.url, "http://x").pathname);
  } catch {
    res.writeHead(400).end();
    return;
  }
  const file = resolve(join(root, path === "/" ? "index.html" : path));
  const type = TYPES[extname(file)];
  // Only files inside the directory, and only the kinds the page is made of.
  if (!file.startsWith(root + sep) || !type) {
    res.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, { "content-type": type, "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : body);
  } catch (e) {
    res.writeHead(e.code === "ENOENT" ? 404 : 500).end();
  }
});

server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ origin: `http://127.0.0.1:${server.address().port}` }));
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    // The browser keeps connections alive; they would hold close() open.
    server.closeAllConnections();
  });
}
