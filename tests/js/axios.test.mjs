// The axios adapter, against a tiny axios-like instance (axios itself is not a dependency).
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { test } from "node:test";

import { attachAxios, SessionExpiredError } from "../../tokens/static/tokens/auth-client.js";
import { fakeClock, fakeServer, makeClient, PASSWORD } from "./helpers.mjs";

// What the adapter relies on: interceptors.use/eject, request(config) running the request
// interceptors, the transport, then the response interceptors; errors carry config and response.
function fakeAxios(fetchImpl) {
  const chain = () => {
    const handlers = [];
    return {
      handlers,
      use(fulfilled, rejected) {
        handlers.push({ fulfilled, rejected });
        return handlers.length - 1;
      },
      eject(id) {
        handlers[id] = null;
      },
    };
  };
  const instance = {
    sent: [],
    interceptors: { request: chain(), response: chain() },
    async request(config) {
      let current = { ...config, headers: { ...(config.headers ?? {}) } };
      for (const handler of instance.interceptors.request.handlers) {
        if (handler?.fulfilled) current = await handler.fulfilled(current);
      }
      let outcome;
      try {
        const body = typeof current.data === "string" || current.data === undefined
          ? current.data
          : current.data.pipe
            ? "[stream]"
            : JSON.stringify(current.data);
        instance.sent.push({ headers: { ...current.headers }, data: body });
        const response = await fetchImpl(`http://app.test${current.url}`, {
          method: current.method ?? "GET",
          headers: current.headers,
          body,
        });
        const result = { status: response.status, data: await response.json(), config: current };
        if (response.status >= 400) {
          const error = new Error(`Request failed with status code ${response.status}`);
          error.config = current;
          error.response = result;
          throw error;
        }
        outcome = Promise.resolve(result);
      } catch (error) {
        outcome = Promise.reject(error);
      }
      for (const handler of instance.interceptors.response.handlers) {
        if (handler) outcome = outcome.then(handler.fulfilled, handler.rejected);
      }
      return outcome;
    },
  };
  return instance;
}

async function setup(t) {
  const server = fakeServer();
  const client = makeClient(t, server, fakeClock());
  await client.login("alice", PASSWORD);
  const http = fakeAxios(server.fetch);
  const detach = attachAxios(http, client);
  return { server, client, http, detach };
}

test("requests carry the bearer token", async (t) => {
  const { client, http } = await setup(t);
  const response = await http.request({ url: "/api/user/info" });
  assert.equal(response.status, 200);
  assert.equal(http.sent[0].headers.Authorization, `Bearer ${client.accessToken}`);
});

test("ten 401s share one refresh and each request is replayed once", async (t) => {
  const { server, http, client } = await setup(t);
  client.forgetAccessToken();
  const responses = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      http.request({ url: "/api/things", method: "POST", data: { i } }),
    ),
  );
  assert.deepEqual(responses.map((r) => r.status), Array(10).fill(200));
  assert.equal(server.refreshes, 1);
  assert.equal(http.sent.length, 20);
  assert.deepEqual(
    responses.map((r) => JSON.parse(r.data.body).i),
    Array.from({ length: 10 }, (_, i) => i),
  );
});

test("a second 401 is handed back, not retried again", async (t) => {
  const { server, http } = await setup(t);
  server.forced401 = 2;
  await assert.rejects(http.request({ url: "/api/x" }), (error) => error.response.status === 401);
  assert.equal(http.sent.length, 2);
});

test("a dead session rejects with SessionExpiredError", async (t) => {
  const { server, http, client } = await setup(t);
  server.dead = true;
  client.forgetAccessToken();
  await assert.rejects(http.request({ url: "/api/x" }), SessionExpiredError);
  assert.equal(client.state, "signed-out");
});

test("a stream body is not replayed and the error says so", async (t) => {
  const { server, http, client } = await setup(t);
  client.forgetAccessToken();
  await assert.rejects(
    http.request({ url: "/api/upload", method: "POST", data: Readable.from(["x"]) }),
    (error) => error.notReplayed === true && error.response.status === 401,
  );
  assert.equal(http.sent.length, 1);
  assert.equal(server.refreshes, 1);
});

test("detaching removes the interceptors", async (t) => {
  const { http, detach } = await setup(t);
  detach();
  await assert.rejects(http.request({ url: "/api/x" }), (error) => error.response.status === 401);
  assert.equal(http.sent[0].headers.Authorization, undefined);
});
