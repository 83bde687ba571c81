// Several tabs of one browser: one cookie, a Web Lock around refresh, a BroadcastChannel.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  collect,
  fakeChannels,
  fakeClock,
  fakeLocks,
  fakeServer,
  flush,
  makeClient,
  PASSWORD,
} from "./helpers.mjs";

function browser(t, { lockTimeout } = {}) {
  const server = fakeServer();
  const clock = fakeClock();
  const locks = fakeLocks();
  const BroadcastChannel = fakeChannels();
  const tab = () =>
    makeClient(t, server, clock, {
      locks,
      BroadcastChannel,
      channel: undefined,
      ...(lockTimeout === undefined ? {} : { lockTimeout }),
    });
  return { server, clock, locks, tab };
}

test("a login in one tab signs the other tabs in", async (t) => {
  const { tab } = browser(t);
  const a = tab();
  const b = tab();
  const events = collect(b, "login");
  await a.login("alice", PASSWORD);
  assert.equal(b.state, "signed-in");
  assert.equal(b.accessToken, a.accessToken);
  assert.deepEqual(events[0].detail, { source: "tab" });
});

test("two tabs refreshing at the same moment send one refresh and share its token", async (t) => {
  const { server, tab } = browser(t);
  const a = tab();
  const b = tab();
  await a.login("alice", PASSWORD);
  const [tokenA, tokenB] = await Promise.all([a.refresh(), b.refresh()]);
  assert.equal(server.refreshes, 1);
  assert.equal(tokenA, tokenB);
  assert.equal(b.accessToken, a.accessToken);
});

test("a tab waiting for the lock re-checks inside it and skips a refresh another tab made", async (t) => {
  const { server, clock, tab } = browser(t);
  const a = tab();
  const b = tab();
  await a.login("alice", PASSWORD);
  clock.advance(61_000);
  let open;
  server.gate = new Promise((resolve) => {
    open = resolve;
  });
  const calls = [
    ...Array.from({ length: 3 }, () => a.fetch("http://app.test/api/x")),
    ...Array.from({ length: 3 }, () => b.fetch("http://app.test/api/x")),
  ];
  await flush();
  assert.equal(server.refreshes, 1);
  open();
  const responses = await Promise.all(calls);
  assert.deepEqual(responses.map((r) => r.status), Array(6).fill(200));
  assert.equal(server.refreshes, 1);
});

test("a lock held too long by a stuck tab does not block the refresh", async (t) => {
  const { server, locks, tab } = browser(t, { lockTimeout: 0.02 });
  const a = tab();
  await a.login("alice", PASSWORD);
  let release;
  locks.request("django-tokens-refresh", {}, () => new Promise((resolve) => {
    release = resolve;
  }));
  await a.refresh();
  assert.equal(server.refreshes, 1);
  release();
});

test("logout in one tab signs the others out", async (t) => {
  const { server, tab } = browser(t);
  const a = tab();
  const b = tab();
  await a.login("alice", PASSWORD);
  const events = collect(b, "logout", "sessionexpired");
  await a.logout();
  assert.equal(server.logouts, 1);
  assert.equal(b.state, "signed-out");
  assert.deepEqual(events, [{ type: "logout", detail: { everywhere: false, remote: true } }]);
});

test("a session refused in one tab is checked, then ended, in the others", async (t) => {
  const { server, clock, tab } = browser(t);
  const a = tab();
  const b = tab();
  await a.login("alice", PASSWORD);
  const eventsA = collect(a, "sessionexpired");
  const eventsB = collect(b, "sessionexpired");
  server.dead = true;
  clock.advance(61_000);
  await assert.rejects(a.fetch("http://app.test/api/x"));
  await flush();
  assert.equal(eventsA.length, 1);
  assert.equal(eventsB.length, 1);
  assert.equal(b.state, "signed-out");
  // b asked the server itself instead of trusting a's message.
  assert.equal(server.refreshes, 2);
});

test("a tab keeps its session when another tab's refusal was for an older cookie", async (t) => {
  const { server, tab } = browser(t);
  const a = tab();
  const b = tab();
  await a.login("alice", PASSWORD);
  server.refreshPlan = [403];
  await assert.rejects(a.refresh());
  await flush();
  // b's own check succeeded: it stays signed in, and its token signs a in again (one cookie).
  assert.equal(b.state, "signed-in");
  assert.equal(a.state, "signed-in");
  assert.equal(a.accessToken, b.accessToken);
});

test("the body transport does not share tokens between tabs", async (t) => {
  const server = fakeServer({ transport: "body" });
  const clock = fakeClock();
  const locks = fakeLocks();
  const BroadcastChannel = fakeChannels();
  const options = { transport: "body", locks, BroadcastChannel, channel: undefined };
  const a = makeClient(t, server, clock, options);
  const b = makeClient(t, server, clock, options);
  await a.login("alice", PASSWORD);
  assert.equal(b.state, "signed-out");
  assert.equal(locks.held("django-tokens-refresh"), false);
});
