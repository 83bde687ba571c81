// django-allauth's headless API (its "app" client, mounted by the site at /_allauth/): sign-up,
// email verification by code, log in by username or email, the second factor, password reset,
// and the two-factor settings. A flow that completes ends in one of the app's sessions: the
// request says `X-Tokens-Transport: cookie`, so the server sets the HttpOnly refresh cookie and
// the response carries no refresh token; the auth client then picks the session up through that
// cookie (`auth.restore()`), and everything else works as after any login.
import { ref } from "vue";

import { auth } from "./auth.js";

const BASE = "/_allauth/app/v1";

// The allauth session of a flow under way (a sign-up waiting for its code, a login waiting for
// its second factor, a password reset waiting for its code). In memory only, like the access
// token: a reload forgets it, and the user starts that flow again.
let sessionToken = null;

// The flow the server is waiting on (`{id: "verify_email"}`, `{id: "mfa_authenticate", types}`,
// `{id: "password_reset_by_code"}`), or null: the router lets the step pages open only then.
export const pendingFlow = ref(null);

/** A flow step or an account call the server refused; `message` is what to show the user. */
export class FlowError extends Error {
  constructor(message, { status = 0, errors = [] } = {}) {
    super(message);
    this.name = "FlowError";
    this.status = status;
    this.errors = errors;
  }
}

function forgetFlow() {
  sessionToken = null;
  pendingFlow.value = null;
}

function messageOf(status, body) {
  const messages = (body.errors ?? []).map((error) => error.message).filter(Boolean);
  if (messages.length) return messages.join(" ");
  if (status === 409) return "This step is not expected now. Please start again.";
  if (status === 429) return "Too many attempts. Please wait a moment and try again.";
  return `The server answered ${status}.`;
}

async function send(method, path, body, headers) {
  let response;
  try {
    response = await fetch(`${BASE}${path}`, {
      method,
      headers: {
        Accept: "application/json",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (error) {
    throw new FlowError("The server could not be reached.", { status: 0, errors: [error] });
  }
  let data = {};
  try {
    data = await response.json();
  } catch {
    // An answer without JSON (a proxy's error page): its status says enough.
  }
  return { status: response.status, body: data };
}

/**
 * Take one step of a sign-in flow. Resolve with `{done: true}` when the user is signed in (the
 * auth client holds the session), `{done: false, flow}` when the server waits for another step
 * (`flow` is the pending one, or null when there is none: the user must log in). Reject with a
 * FlowError saying why when the server refuses the step.
 */
export async function step(method, path, body) {
  // Every step may be the one that completes the flow: ask for the cookie each time.
  const headers = { "X-Tokens-Transport": "cookie" };
  if (sessionToken) headers["X-Session-Token"] = sessionToken;
  const { status, body: answer } = await send(method, path, body, headers);
  if (answer.meta?.session_token) sessionToken = answer.meta.session_token;
  if (status === 410) {
    // The flow's session is gone (expired, or finished elsewhere): start again.
    forgetFlow();
    throw new FlowError("This sign-in has expired. Please start again.", { status });
  }
  if (status === 200 && answer.meta?.is_authenticated) {
    forgetFlow();
    // The response set the refresh cookie; the client gets its access token through it, as
    // after a page load, and tells the other tabs.
    if (!(await auth.restore())) {
      throw new FlowError("You were signed in, but the session could not be started.", { status });
    }
    return { done: true };
  }
  if (status === 401) {
    pendingFlow.value = (answer.data?.flows ?? []).find((flow) => flow.is_pending) ?? null;
    if (!pendingFlow.value) sessionToken = null;
    return { done: false, flow: pendingFlow.value };
  }
  // A step that moves nothing forward (a code sent again): the flow waits where it was.
  if (status === 200) return { done: false, flow: pendingFlow.value };
  throw new FlowError(messageOf(status, answer), { status, errors: answer.errors ?? [] });
}

/**
 * Call one of allauth's endpoints for a signed-in user (`/account/...`, `/auth/reauthenticate`)
 * with the access token, as the app's own API calls go: a token the server refused is replaced
 * once (the client's single-flight refresh) and the call replayed. Resolve with `{status, body}`;
 * a 401 that says `meta.is_authenticated` asks the user to confirm their password first
 * (`needsReauthentication`).
 */
export async function account(method, path, body) {
  let token = await auth.getAccessToken();
  let result = await send(method, path, body, { Authorization: `Bearer ${token}` });
  if (result.status === 401 && !result.body.meta?.is_authenticated) {
    token = await auth.tokenAfterRejection(token);
    result = await send(method, path, body, { Authorization: `Bearer ${token}` });
  }
  return result;
}

/** Whether an answer of `account()` asks the user to confirm who they are (a sensitive action). */
export function needsReauthentication(result) {
  return result.status === 401 && Boolean(result.body.meta?.is_authenticated);
}

/** Throw a FlowError for an answer of `account()` that is not one of `expected` statuses. */
export function expectStatus(result, ...expected) {
  if (!expected.includes(result.status)) {
    throw new FlowError(messageOf(result.status, result.body), {
      status: result.status,
      errors: result.body.errors ?? [],
    });
  }
  return result.body;
}

/** Drop a flow under way (the user went back to the login page to start over). */
export function abandonFlow() {
  forgetFlow();
}
