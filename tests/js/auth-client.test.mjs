// Unit tests for the client core: node --test tests/js/
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  AuthClient,
  LoginError,
  RefreshFailedError,
  SessionExpiredError,
} from "../../tokens/static/tokens/auth-client.js";
import { PASSWORD, collect, fakeClock, fakeServer, flush, makeClient } from "./helpers.mjs";

const API = "http://app.test/api/user/info";

async function signedIn(t, options = {}, serverOptions = {}) {
  const server = fakeServer(serverOptions);
  const clock = fakeClock();
  const client = makeClient(t, server, clock, options);
  await client.login("alice", PASSWORD);
  return { server, clock, client };
}

test("login keeps the access token in memory and fetch sends it as a bearer", async (t) => {
  const { server, client } = await signedIn(t);
  assert.equal(client.state, "signed-in");
  const response = await client.fetch(API);
  assert.equal(response.status, 200);
  assert.equal(server.apiCalls[0].token, client.accessToken);
});

test("cookie login asks for the cookie; a wrong password rejects with the server's code", async (t) => {
  const server = fakeServer();
  const seen = [];
  const client = makeClient(t, { fetch: (url, init) => (seen.push(init), server.fetch(url, init)) }, fakeClock());
  await assert.rejects(client.login("alice", "nope"), (error) => {
    assert.ok(error instanceof LoginError);
    assert.equal(error.code, "invalid_credentials");
    assert.equal(error.status, 400);
    return true;
  });
  assert.equal(client.isSignedIn, false);
  await client.login("alice", PASSWORD);
  assert.equal(JSON.parse(seen.at(-1).body).use_cookie, true);
});

test("ten requests with an expired token cause exactly one refresh", async (t) => {
  const { server, clock, client } = await signedIn(t);
  const first = client.accessToken;
  clock.advance(61_000);
  const responses = await Promise.all(Array.from({ length: 10 }, () => client.fetch(API)));
  assert.deepEqual(responses.map((r) => r.status), Array(10).fill(200));
  assert.equal(server.refreshes, 1);
  assert.notEqual(client.accessToken, first);
  // Every call went out with the new token: none was sent expired.
  assert.ok(server.apiCalls.every((call) => call.token === client.accessToken));
});

test("a request close to expiry refreshes first; a fresh one does not", async (t) => {
  const { server, clock, client } = await signedIn(t);
  await client.fetch(API);
  assert.equal(server.refreshes, 0);
  clock.advance(60_000 - 5_000); // within requestMargin (5 s, a tenth of 60 s is 6 s)
  await client.fetch(API);
  assert.equal(server.refreshes, 1);
});

test("ten 401s for the same token cause one refresh and one replay each", async (t) => {
  const { server, client } = await signedIn(t);
  client.forgetAccessToken();
  const events = collect(client, "refresh");
  const responses = await Promise.all(Array.from({ length: 10 }, () => client.fetch(API)));
  assert.deepEqual(responses.map((r) => r.status), Array(10).fill(200));
  assert.equal(server.refreshes, 1);
  assert.equal(events.length, 1);
  assert.equal(events[0].detail.reason, "401");
  assert.equal(server.apiCalls.length, 20);
});

test("a 401 for a token older than the current one replays without refreshing", async (t) => {
  const { server, client } = await signedIn(t);
  const old = client.accessToken;
  await client.refresh();
  assert.equal(server.refreshes, 1);
  server.valid.delete(old);
  const token = await client.tokenAfterRejection(old);
  assert.equal(token, client.accessToken);
  assert.equal(server.refreshes, 1);
});

test("a request is retried at most once", async (t) => {
  const { server, client } = await signedIn(t);
  server.forced401 = 2;
  const response = await client.fetch(API);
  assert.equal(response.status, 401);
  assert.equal(server.apiCalls.length, 2);
  assert.equal(server.refreshes, 1);
});

test("a stream body is not replayed: the 401 comes back marked, the session is healed", async (t) => {
  const { server, client } = await signedIn(t);
  client.forgetAccessToken();
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("chunk"));
      controller.close();
    },
  });
  const response = await client.fetch(API, { method: "POST", body: stream, duplex: "half" });
  assert.equal(response.status, 401);
  assert.equal(response.notReplayed, true);
  assert.equal(server.apiCalls.length, 1);
  assert.equal(server.refreshes, 1);
  assert.equal((await client.fetch(API)).status, 200);
});

test("a replayable body is sent again intact, also from a Request object", async (t) => {
  const { server, client } = await signedIn(t);
  client.forgetAccessToken();
  const response = await client.fetch(API, { method: "POST", body: '{"n":1}' });
  assert.equal((await response.json()).body, '{"n":1}');
  client.forgetAccessToken();
  const request = new Request(API, { method: "POST", body: "from-request" });
  const second = await client.fetch(request);
  assert.equal(second.status, 200);
  assert.equal((await second.json()).body, "from-request");
  assert.deepEqual(server.apiCalls.map((c) => c.body), ['{"n":1}', '{"n":1}', "from-request", "from-request"]);
});

test("a refused refresh rejects every waiter with one SessionExpiredError and one event", async (t) => {
  const { server, clock, client } = await signedIn(t);
  const events = collect(client, "sessionexpired");
  server.dead = true;
  clock.advance(61_000);
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => client.fetch(API)));
  assert.ok(results.every((r) => r.status === "rejected"));
  const errors = new Set(results.map((r) => r.reason));
  assert.equal(errors.size, 1);
  const [error] = errors;
  assert.ok(error instanceof SessionExpiredError);
  assert.equal(error.code, "session_revoked");
  assert.equal(events.length, 1);
  assert.equal(events[0].detail.error, error);
  assert.equal(client.accessToken, null);
  assert.equal(client.state, "signed-out");
  // Later requests fail at once, without asking the server again.
  await assert.rejects(client.fetch(API), SessionExpiredError);
  assert.equal(server.refreshes, 1);
});

test("5xx, 429 and network errors keep the session and retry with backoff", async (t) => {
  const { server, clock, client } = await signedIn(t);
  const events = collect(client, "refreshretry", "sessionexpired");
  server.refreshPlan = [503, "network", 429];
  clock.advance(61_000);
  const response = await client.fetch(API);
  assert.equal(response.status, 200);
  assert.equal(server.refreshes, 4);
  assert.deepEqual(events.map((e) => e.type), ["refreshretry", "refreshretry", "refreshretry"]);
  assert.deepEqual(events.map((e) => e.detail.error.status), [503, null, 429]);
});

test("when every attempt fails the request rejects but the session is kept", async (t) => {
  const { server, clock, client } = await signedIn(t);
  const expired = collect(client, "sessionexpired");
  server.refreshPlan = [502, 502, 502, 502];
  clock.advance(61_000);
  await assert.rejects(client.fetch(API), RefreshFailedError);
  assert.equal(server.refreshes, 4);
  assert.equal(client.state, "signed-in");
  assert.ok(client.accessToken);
  assert.equal(expired.length, 0);
  // The next request tries again and succeeds.
  assert.equal((await client.fetch(API)).status, 200);
});

test("Retry-After on a 429 is honoured up to retryMaxDelay", async (t) => {
  const server = fakeServer();
  const clock = fakeClock();
  const client = makeClient(
    t,
    {
      fetch: async (url, init) => {
        if (String(url).endsWith("/refresh") && server.refreshes === 0) {
          server.refreshes += 1;
          return new Response("{}", { status: 429, headers: { "Retry-After": "120" } });
        }
        return server.fetch(url, init);
      },
    },
    clock,
  );
  const retries = collect(client, "refreshretry");
  await client.login("alice", PASSWORD);
  await client.refresh();
  assert.equal(retries[0].detail.delay, 5); // retryMaxDelay 0.005 s in the tests
});

test("a refresh that lands after logout is discarded", async (t) => {
  const { server, client } = await signedIn(t);
  let open;
  server.gate = new Promise((resolve) => {
    open = resolve;
  });
  const refreshing = client.refresh();
  await flush();
  const loggingOut = client.logout();
  assert.equal(client.state, "signed-out");
  open();
  await assert.rejects(refreshing, SessionExpiredError);
  await loggingOut;
  assert.equal(client.accessToken, null);
  assert.equal(client.state, "signed-out");
  // The logout request went out after the refresh had landed.
  assert.equal(server.logouts, 1);
  assert.equal(server.counter, 2);
});

test("cookie transport sends X-CSRFToken and no token in the body", async (t) => {
  const { server, client } = await signedIn(t);
  await client.refresh();
  const [sent] = server.refreshRequests;
  assert.equal(sent.headers["x-csrftoken"], "csrf-value");
  assert.deepEqual(sent.body, {});
  assert.equal(sent.credentials, "same-origin");
  await client.logout();
  assert.equal(server.logoutRequests[0].headers["x-csrftoken"], "csrf-value");
  assert.match(server.logoutRequests[0].headers.authorization, /^Bearer access-/);
});

test("body transport keeps the rotated refresh token in memory and sends it", async (t) => {
  const { server, client } = await signedIn(t, { transport: "body" }, { transport: "body" });
  await client.refresh();
  await client.refresh();
  assert.deepEqual(
    server.refreshRequests.map((r) => r.body),
    [{ refresh_token: "refresh-1" }, { refresh_token: "refresh-2" }],
  );
  assert.equal(server.refreshRequests[0].headers["x-csrftoken"], undefined);
  await client.logout();
  assert.deepEqual(server.logoutRequests[0].body, { refresh_token: "refresh-3" });
});

test("restore signs in through the cookie, or reports no session without an event", async (t) => {
  const server = fakeServer();
  const clock = fakeClock();
  const client = makeClient(t, server, clock);
  const events = collect(client, "login", "sessionexpired");
  assert.equal(client.state, "unknown");
  assert.equal(await client.restore(), true);
  assert.deepEqual(events.map((e) => [e.type, e.detail.source]), [["login", "restore"]]);

  const other = makeClient(t, { ...server, fetch: server.fetch }, clock);
  const otherEvents = collect(other, "sessionexpired");
  server.dead = true;
  assert.equal(await other.restore(), false);
  assert.equal(other.state, "signed-out");
  assert.equal(otherEvents.length, 0);
});

test("the proactive timer refreshes before expiry, counted from the response's arrival", async (t) => {
  const server = fakeServer();
  const clock = fakeClock();
  const client = makeClient(t, server, clock, {
    autoRefresh: true,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random: () => 1,
  });
  await client.login("alice", PASSWORD);
  // Lifetime 60 s: margin min(60 s, 15 s) = 15 s, jitter min(10 s, 6 s) * 1 = 6 s.
  assert.deepEqual(clock.pending(), [39_000]);
  const events = collect(client, "refresh");
  await clock.tick(38_999);
  assert.equal(server.refreshes, 0);
  await clock.tick(1);
  assert.equal(server.refreshes, 1);
  assert.equal(events[0].detail.reason, "timer");
  assert.deepEqual(clock.pending(), [39_000]);
  client.autoRefresh = false;
  assert.deepEqual(clock.pending(), []);
});

test("a proactive refresh that fails for a passing reason is tried again later", async (t) => {
  const server = fakeServer();
  const clock = fakeClock();
  const client = makeClient(t, server, clock, {
    autoRefresh: true,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    refreshAttempts: 1,
    retryMaxDelay: 30,
  });
  await client.login("alice", PASSWORD);
  server.refreshPlan = [503];
  await clock.tick(60_000);
  assert.equal(server.refreshes, 1);
  assert.equal(client.state, "signed-in");
  await clock.tick(30_000);
  assert.equal(server.refreshes, 2);
  assert.equal(server.counter, 2);
});

test("becoming visible or online re-checks a token whose timer was throttled", async (t) => {
  const server = fakeServer();
  const clock = fakeClock();
  const doc = new EventTarget();
  doc.visibilityState = "visible";
  const win = new EventTarget();
  const client = makeClient(t, server, clock, {
    autoRefresh: true,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    document: doc,
    window: win,
  });
  await client.login("alice", PASSWORD);
  doc.dispatchEvent(new Event("visibilitychange"));
  await flush();
  assert.equal(server.refreshes, 0); // not due yet
  clock.advance(50_000); // the timer never fired: a frozen background tab
  doc.dispatchEvent(new Event("visibilitychange"));
  await flush();
  assert.equal(server.refreshes, 1);
  clock.advance(50_000);
  win.dispatchEvent(new Event("online"));
  await flush();
  assert.equal(server.refreshes, 2);
});

test("going online wakes a refresh waiting out its backoff", async (t) => {
  const server = fakeServer();
  const clock = fakeClock();
  const win = new EventTarget();
  const client = makeClient(t, server, clock, {
    window: win,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    retryMaxDelay: 3600,
    retryBaseDelay: 3600,
  });
  await client.login("alice", PASSWORD);
  server.refreshPlan = ["network"];
  const refreshing = client.refresh();
  await flush();
  assert.equal(server.refreshes, 1);
  win.dispatchEvent(new Event("online"));
  await refreshing;
  assert.equal(server.refreshes, 2);
});

test("logoutEverywhere ends the sessions and signs out", async (t) => {
  const { server, client } = await signedIn(t);
  const events = collect(client, "logout");
  await client.logoutEverywhere();
  assert.equal(server.dead, true);
  assert.equal(client.state, "signed-out");
  assert.deepEqual(events[0].detail, { everywhere: true, remote: false });
});

test("a logout whose CSRF check failed is reported", async (t) => {
  const server = fakeServer();
  const client = makeClient(
    t,
    {
      fetch: async (url, init) =>
        String(url).endsWith("/logout")
          ? new Response('{"code":"csrf_failed","detail":"CSRF"}', { status: 403 })
          : server.fetch(url, init),
    },
    fakeClock(),
  );
  await client.login("alice", PASSWORD);
  await assert.rejects(client.logout(), (error) => error.code === "csrf_failed");
  assert.equal(client.state, "signed-out");
});

test("the constructor refuses an unknown transport", () => {
  assert.throws(() => new AuthClient({ transport: "header" }), TypeError);
});

test("the constructor refuses an option it does not know, naming the new name of a renamed one", () => {
  assert.throws(() => new AuthClient({ refreshMargn: 30 }), {
    name: "TypeError",
    message: "unknown option refreshMargn",
  });
  assert.throws(() => new AuthClient({ retries: 2 }), {
    name: "TypeError",
    message: "the option retries is now called refreshAttempts",
  });
  assert.throws(() => new AuthClient({ expirySkew: 2 }), /now called requestMargin/);
  const client = new AuthClient({ refreshAttempts: 2, requestMargin: 1, channel: false });
  client.close();
});
