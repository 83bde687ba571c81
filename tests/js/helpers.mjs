// A small in-process stand-in for the django-tokens HTTP API, for the client core's unit tests.
// It answers like the real server (status codes, JSON error bodies); the browser tests in
// tests/test_browser.py run the same client against the real one.

import { AuthClient } from "../../tokens/static/tokens/auth-client.js";

export const PASSWORD = "pw";

export function fakeServer({ lifetime = 60, transport = "cookie" } = {}) {
  const server = {
    lifetime,
    counter: 0,
    valid: new Set(),
    dead: false,
    logins: 0,
    refreshes: 0,
    logouts: 0,
    apiCalls: [],
    refreshRequests: [],
    logoutRequests: [],
    // Answers for the next refreshes: a status number, "network", or undefined for the normal one.
    refreshPlan: [],
    // When set, refreshes wait for it before answering.
    gate: null,
    // API requests with this many more 401s to give regardless of the token.
    forced401: 0,
  };

  const json = (status, body, headers = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json", ...headers },
    });
  const issue = () => {
    server.counter += 1;
    const token = `access-${server.counter}`;
    server.valid.add(token);
    const body = { token_type: "Bearer", access_token: token, expires_in: server.lifetime };
    if (transport === "body") body.refresh_token = `refresh-${server.counter}`;
    body.refresh_expires_in = 3600;
    return body;
  };
  const bearerOk = (request) => {
    const auth = request.headers.get("Authorization") ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : null;
    return token && !server.dead && server.valid.has(token) ? token : null;
  };

  server.fetch = async (input, init = {}) => {
    const url = new URL(typeof input === "string" ? input : input.url, "http://app.test");
    const request = new Request(url, typeof input === "string" ? init : new Request(input, init));
    const path = url.pathname;
    if (path === "/api/auth/login") {
      server.logins += 1;
      const body = await request.json();
      if (body.password !== PASSWORD) {
        return json(400, { code: "invalid_credentials", detail: "Unable to log in." });
      }
      server.dead = false;
      return json(200, issue());
    }
    if (path === "/api/auth/refresh") {
      server.refreshes += 1;
      server.refreshRequests.push({
        headers: Object.fromEntries(request.headers),
        body: await request.json(),
        credentials: init.credentials,
      });
      if (server.gate) await server.gate;
      const plan = server.refreshPlan.shift();
      if (plan === "network") throw new TypeError("fetch failed");
      if (typeof plan === "number") {
        return json(plan, { code: `status_${plan}`, detail: `planned ${plan}` });
      }
      if (server.dead) return json(403, { code: "session_revoked", detail: "Session ended." });
      return json(200, issue());
    }
    if (path === "/api/auth/logout") {
      server.logouts += 1;
      server.logoutRequests.push({
        headers: Object.fromEntries(request.headers),
        body: await request.json(),
      });
      server.dead = true;
      return json(200, { detail: "Logged out." });
    }
    if (path === "/api/auth/logout-all") {
      if (!bearerOk(request)) return json(401, { code: "not_authenticated", detail: "No." });
      server.dead = true;
      return json(200, { detail: "Ended 1 session(s).", ended: 1 });
    }
    // Any other path is an API endpoint that needs a live access token.
    const text = request.body ? await request.text() : "";
    const token = request.headers.get("Authorization")?.slice(7) ?? null;
    server.apiCalls.push({ path, token, body: text });
    if (server.forced401 > 0) {
      server.forced401 -= 1;
      return json(401, { code: "access_token_invalid", detail: "Forced." });
    }
    if (!bearerOk(request)) {
      return json(401, { code: "access_token_invalid", detail: "Bad token." }, {
        "WWW-Authenticate": 'Bearer realm="api"',
      });
    }
    return json(200, { ok: true, token, body: text });
  };
  return server;
}

export function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  const timers = new Set();
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
    // Fake timers: `tick` advances the clock and fires what is due.
    setTimeout(fn, ms) {
      const timer = { fn, at: now + Math.max(0, ms) };
      timers.add(timer);
      return timer;
    },
    clearTimeout(timer) {
      timers.delete(timer);
    },
    pending: () => [...timers].map((t) => t.at - now),
    async tick(ms) {
      now += ms;
      for (const timer of [...timers].sort((a, b) => a.at - b.at)) {
        if (timer.at <= now && timers.has(timer)) {
          timers.delete(timer);
          timer.fn();
        }
      }
      await flush();
    },
  };
}

export async function flush() {
  for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

export function makeClient(t, server, clock, options = {}) {
  const client = new AuthClient({
    fetch: server.fetch,
    now: clock.now,
    random: () => 0.5,
    channel: false,
    locks: null,
    document: null,
    window: null,
    autoRefresh: false,
    getCsrfToken: () => "csrf-value",
    retryBaseDelay: 0.001,
    retryMaxDelay: 0.005,
    ...options,
  });
  t.after(() => client.close());
  return client;
}

export function collect(client, ...types) {
  const seen = [];
  for (const type of types) {
    client.addEventListener(type, (event) => seen.push({ type, detail: event.detail }));
  }
  return seen;
}

// A Web Locks stand-in: one holder per name, FIFO waiters, the abort signal honoured.
export function fakeLocks() {
  const queues = new Map();
  return {
    held: (name) => (queues.get(name) ?? []).length > 0,
    request(name, options, callback) {
      const queue = queues.get(name) ?? [];
      queues.set(name, queue);
      return new Promise((resolve, reject) => {
        const entry = { run: null };
        const release = () => {
          queue.shift();
          if (queue.length) queue[0].run();
        };
        entry.run = () => {
          options.signal?.removeEventListener("abort", onAbort);
          Promise.resolve()
            .then(callback)
            .then(
              (value) => {
                release();
                resolve(value);
              },
              (error) => {
                release();
                reject(error);
              },
            );
        };
        const onAbort = () => {
          const index = queue.indexOf(entry);
          if (index > 0) queue.splice(index, 1);
          reject(options.signal.reason);
        };
        options.signal?.addEventListener("abort", onAbort);
        queue.push(entry);
        if (queue.length === 1) entry.run();
      });
    },
  };
}

// A BroadcastChannel stand-in that delivers to the other instances of the same name.
export function fakeChannels() {
  const members = new Map();
  return class FakeChannel extends EventTarget {
    constructor(name) {
      super();
      this.name = name;
      const group = members.get(name) ?? new Set();
      members.set(name, group);
      group.add(this);
    }

    postMessage(data) {
      for (const other of members.get(this.name)) {
        if (other !== this) {
          other.dispatchEvent(new MessageEvent("message", { data: structuredClone(data) }));
        }
      }
    }

    close() {
      members.get(this.name).delete(this);
    }
  };
}
