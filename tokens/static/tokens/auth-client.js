/**
 * auth-client.js: the browser client for django-tokens. An ES module, no dependencies, no build.
 *
 *   import { createAuthClient } from "/static/tokens/auth-client.js";
 *   const auth = createAuthClient();          // cookie transport: refresh token in an HttpOnly cookie
 *   await auth.restore();                     // after a page load: signed in again through the cookie?
 *   await auth.login("alice", "secret");
 *   const response = await auth.fetch("/api/user/info");   // bearer added, refreshed as needed
 *
 * The access token lives in memory only. Every refresh goes through ONE single-flight path, shared
 * by the proactive timer, the check before each request and the 401 handler; across tabs a Web
 * Lock serialises refreshes and a BroadcastChannel hands the new access token to the other tabs.
 * docs/browser.md is the full guide.
 */

const DEFAULTS = {
  baseUrl: "",
  loginPath: "/api/auth/login",
  refreshPath: "/api/auth/refresh",
  logoutPath: "/api/auth/logout",
  logoutAllPath: "/api/auth/logout-all",
  // "cookie": the server keeps the refresh token in an HttpOnly cookie (browsers).
  // "body": the refresh token travels in JSON bodies and stays in this object's memory.
  transport: "cookie",
  credentials: "same-origin",
  csrfCookieName: "csrftoken",
  csrfHeaderName: "X-CSRFToken",
  // Seconds before expiry the proactive refresh aims for; at most a quarter of the lifetime.
  refreshMargin: 60,
  // Seconds of random spread so that many tabs and clients do not refresh at the same instant;
  // at most a tenth of the lifetime.
  refreshJitter: 10,
  // A request leaves with the current token only if it has more than this many seconds left
  // (at most a tenth of the lifetime); otherwise it waits for a refresh first.
  requestMargin: 5,
  autoRefresh: true,
  // Attempts per refresh when the network fails or the server answers 408, 429 or 5xx.
  refreshAttempts: 4,
  retryBaseDelay: 0.5,
  retryMaxDelay: 15,
  // Seconds one refresh request may take before it counts as a network failure.
  refreshTimeout: 15,
  lockName: "django-tokens-refresh",
  // Seconds to wait for another tab's refresh lock; past that, refresh anyway (the server's
  // rotation grace window makes the overlap harmless).
  lockTimeout: 10,
  channelName: "django-tokens",
};

// Options that are not settings: a function, a switch, and the injection points for tests.
const HOOKS = [
  "getCsrfToken", "channel", "fetch", "now", "random", "setTimeout", "clearTimeout", "locks",
  "BroadcastChannel", "document", "window",
];
const KNOWN_OPTIONS = new Set([...Object.keys(DEFAULTS), ...HOOKS]);
const RENAMED_OPTIONS = { retries: "refreshAttempts", expirySkew: "requestMargin" };

const SIGNED_IN = "signed-in";
const SIGNED_OUT = "signed-out";
const UNKNOWN = "unknown";

/** Base class of the errors this module raises; `code` and `status` come from the server. */
export class AuthError extends Error {
  constructor(detail, { code = null, status = null, cause } = {}) {
    super(detail, cause === undefined ? undefined : { cause });
    this.name = "AuthError";
    this.detail = detail;
    this.code = code;
    this.status = status;
  }
}

/** The session is over (refresh refused, revoked, logged out): the user must log in again. */
export class SessionExpiredError extends AuthError {
  constructor(detail, options) {
    super(detail, options);
    this.name = "SessionExpiredError";
  }
}

/** A refresh failed for a passing reason (network, 5xx, 429): the session is kept. */
export class RefreshFailedError extends AuthError {
  constructor(detail, options = {}) {
    super(detail, options);
    this.name = "RefreshFailedError";
    this.retryAfter = options.retryAfter ?? null;
  }
}

/** The server refused the username and password (or throttled the attempt). */
export class LoginError extends AuthError {
  constructor(detail, options) {
    super(detail, options);
    this.name = "LoginError";
  }
}

/** Create an `AuthClient`; see the class for the options. */
export function createAuthClient(options = {}) {
  return new AuthClient(options);
}

/**
 * Keep a session's access token in memory and send authenticated requests with `fetch()`.
 *
 * Events (`addEventListener`): `login` {source}, `refresh` {reason, expiresIn},
 * `tokenchange` {source, expiresAt}, `refreshretry` {attempt, delay, error},
 * `sessionexpired` {error}, `logout` {everywhere, remote}.
 */
export class AuthClient extends EventTarget {
  constructor(options = {}) {
    super();
    const globals = globalThis;
    for (const name of Object.keys(options)) {
      if (KNOWN_OPTIONS.has(name)) continue;
      // A misspelt or renamed option would otherwise be ignored without a word.
      const renamed = RENAMED_OPTIONS[name];
      throw new TypeError(
        renamed ? `the option ${name} is now called ${renamed}` : `unknown option ${name}`,
      );
    }
    this._options = { ...DEFAULTS, ...options };
    if (!["cookie", "body"].includes(this._options.transport)) {
      throw new TypeError(`transport must be "cookie" or "body", not ${this._options.transport}`);
    }
    const cookie = this._options.transport === "cookie";
    this._fetch = options.fetch ?? globals.fetch?.bind(globals);
    this._now = options.now ?? (() => Date.now());
    this._random = options.random ?? Math.random;
    this._setTimeout = options.setTimeout ?? globals.setTimeout.bind(globals);
    this._clearTimeout = options.clearTimeout ?? globals.clearTimeout.bind(globals);
    this._getCsrfToken = options.getCsrfToken ?? (() => readCookie(this._options.csrfCookieName));
    // Tabs share the cookie, hence the session: only the cookie transport coordinates them.
    this._locks = cookie ? (options.locks ?? globals.navigator?.locks ?? null) : null;
    const Channel = options.BroadcastChannel ?? globals.BroadcastChannel;
    this._channel = cookie && options.channel !== false && Channel
      ? new Channel(this._options.channelName)
      : null;
    this._channel?.addEventListener("message", (event) => this._onTabMessage(event.data));

    this._state = cookie ? UNKNOWN : SIGNED_OUT;
    this._accessToken = null;
    this._refreshToken = null;
    this._expiresAt = 0;
    this._lifetime = 0;
    this._refreshDueAt = 0;
    this._sendableUntil = 0;
    // Bumped whenever the session changes hands (login, logout, expiry): a refresh started under
    // an older generation lands on a session that is gone, and is discarded.
    this._generation = 0;
    this._refreshInFlight = null;
    this._timer = null;
    this._backoffWaits = new Set();
    this._forgetCount = 0;
    this._signedOutError = new SessionExpiredError("Not signed in.", { code: "not_signed_in" });

    this._listeners = [];
    const doc = options.document === undefined ? globals.document : options.document;
    const win = options.window === undefined ? globals.window : options.window;
    if (doc?.addEventListener) {
      this._listen(doc, "visibilitychange", () => {
        if (doc.visibilityState === "visible") this._recheckDue("visible");
      });
    }
    if (win?.addEventListener) {
      this._listen(win, "online", () => {
        this._endBackoffWaits();
        this._recheckDue("online");
      });
    }
  }

  /** The access token in memory, or null. */
  get accessToken() {
    return this._accessToken;
  }

  /** When the access token expires, in milliseconds since the Unix epoch (0 when signed out). */
  get expiresAt() {
    return this._expiresAt;
  }

  /** The access token's lifetime in milliseconds, as the server announced it. */
  get lifetime() {
    return this._lifetime;
  }

  /** "signed-in", "signed-out", or "unknown" (cookie transport, before `restore()`). */
  get state() {
    return this._state;
  }

  get isSignedIn() {
    return this._state === SIGNED_IN;
  }

  /** Whether the proactive timer refreshes the token before it expires. */
  get autoRefresh() {
    return this._options.autoRefresh;
  }

  set autoRefresh(value) {
    this._options.autoRefresh = Boolean(value);
    this._schedule();
  }

  /** Log in with a username and password; reject with `LoginError` if the server refuses. */
  async login(username, password) {
    const body = { username, password };
    if (this._options.transport === "cookie") body.use_cookie = true;
    let response;
    try {
      response = await this._postAuth(this._options.loginPath, body, { csrf: false });
    } catch (error) {
      throw new LoginError("The server could not be reached.", { code: "network_error", cause: error });
    }
    const receivedAt = this._now();
    if (!response.ok) {
      const { code, detail } = await readError(response);
      throw new LoginError(detail, { code, status: response.status });
    }
    const data = await response.json();
    this._newGeneration();
    this._acceptTokens(data, receivedAt, "login");
    this._emit("login", { source: "password" });
    return this._accessToken;
  }

  /**
   * Get an access token through the refresh cookie (after a page load): resolve true if the
   * session is alive, false if there is none. Transient failures reject with RefreshFailedError.
   */
  async restore() {
    if (this._state === SIGNED_IN) return true;
    if (this._options.transport !== "cookie") return false;
    if (this._state === SIGNED_OUT) this._state = UNKNOWN;
    try {
      await this._refresh("restore", this._accessToken);
    } catch (error) {
      if (error instanceof SessionExpiredError) return false;
      throw error;
    }
    this._emit("login", { source: "restore" });
    return true;
  }

  /** Refresh now (joining a refresh already under way); resolve with the new access token. */
  refresh() {
    return this._refresh("manual", this._accessToken);
  }

  /**
   * Resolve with an access token good enough to send: the current one, or a refreshed one when
   * it is about to expire. Reject with SessionExpiredError when signed out.
   */
  getAccessToken() {
    if (this._accessToken && this._state === SIGNED_IN && this._now() < this._sendableUntil) {
      return Promise.resolve(this._accessToken);
    }
    return this._refresh("request", this._accessToken);
  }

  /**
   * Resolve with the token to replay a request the server answered 401 after it was sent with
   * `sentToken`: a newer token if there is one already, else the result of a refresh.
   */
  tokenAfterRejection(sentToken) {
    if (this._accessToken && this._accessToken !== sentToken && this._now() < this._sendableUntil) {
      return Promise.resolve(this._accessToken);
    }
    return this._refresh("401", sentToken);
  }

  /**
   * `fetch()` with the bearer token. A 401 is replayed once with a newer token; a request whose
   * body is a stream is not replayed: its 401 is returned with `response.notReplayed === true`.
   */
  async fetch(input, init = {}) {
    const request = isRequest(input) ? input : null;
    const replayable = !isStream(init.body);
    // A Request's body can be read once: keep a copy for the replay.
    const spare = request && replayable && init.body === undefined && !request.bodyUsed
      ? request.clone()
      : null;
    const token = await this.getAccessToken();
    const response = await this._send(input, init, token);
    if (response.status !== 401) return response;
    if (!replayable) {
      // Heal the session for the next request, but hand this 401 back: its body is spent.
      await this.tokenAfterRejection(token).catch(() => {});
      response.notReplayed = true;
      return response;
    }
    const next = await this.tokenAfterRejection(token);
    return this._send(spare ?? input, init, next);
  }

  /**
   * Demo and test hook, not for applications: replace the access token in memory with one the
   * server will refuse, keeping its expiry, so that the next request takes the 401 path (the
   * demo page's "Forget the access token" button). A session never needs it.
   */
  forgetAccessToken() {
    if (this._state !== SIGNED_IN) return;
    this._forgetCount += 1;
    this._accessToken = `forgotten-access-token-${this._forgetCount}`;
    this._emit("tokenchange", { source: "forget", expiresAt: this._expiresAt });
  }

  /** End this session on the server and sign out here and in the other tabs. */
  async logout() {
    const token = this._state === SIGNED_IN ? this._accessToken : null;
    const refreshToken = this._refreshToken;
    const pending = this._refreshInFlight;
    this._signOut("logout", { everywhere: false });
    // A refresh under way may still set a rotated cookie: let it land first, so the logout
    // request carries the cookie that is current, and the server ends the right session.
    if (pending) await pending.catch(() => {});
    const body = this._options.transport === "body" && refreshToken
      ? { refresh_token: refreshToken }
      : {};
    const response = await this._postAuth(this._options.logoutPath, body, { bearer: token });
    if (response.ok) return;
    const { code, detail } = await readError(response);
    // 401 and 403 mean the session was already over, except a failed CSRF check, which left it
    // running: report that one.
    if (response.status === 401 || (response.status === 403 && code !== "csrf_failed")) return;
    throw new AuthError(detail, { code, status: response.status });
  }

  /** End every session of this user (all devices), then sign out here and in the other tabs. */
  async logoutEverywhere() {
    const headers = { Accept: "application/json" };
    const response = await this.fetch(this._url(this._options.logoutAllPath), {
      method: "POST",
      headers,
      credentials: this._options.credentials,
    });
    if (!response.ok) {
      const { code, detail } = await readError(response);
      throw new AuthError(detail, { code, status: response.status });
    }
    this._signOut("logout", { everywhere: true });
  }

  /** Stop timers and listeners and close the channel. */
  close() {
    this._clearTimer();
    this._endBackoffWaits();
    for (const [target, type, handler] of this._listeners) {
      target.removeEventListener(type, handler);
    }
    this._listeners = [];
    this._channel?.close();
    this._channel = null;
  }

  // --- the one refresh path ---------------------------------------------------------------

  _refresh(reason, staleToken) {
    if (this._state === SIGNED_OUT) return Promise.reject(this._signedOutError);
    if (!this._refreshInFlight) {
      const run = this._refreshWithRetries(reason, staleToken, this._generation);
      this._refreshInFlight = run;
      const clear = () => {
        if (this._refreshInFlight === run) this._refreshInFlight = null;
      };
      run.then(clear, clear);
    }
    return this._refreshInFlight;
  }

  async _refreshWithRetries(reason, staleToken, generation) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const fresh = await this._withLock(() => this._refreshOnce(reason, staleToken, generation));
        return fresh;
      } catch (error) {
        if (error instanceof SessionExpiredError) {
          if (this._generation === generation) this._signOut("expired", { error });
          throw error;
        }
        if (!(error instanceof RefreshFailedError)) throw error;
        if (this._generation !== generation) return this._afterStaleRefresh();
        if (attempt + 1 >= this._options.refreshAttempts) throw error;
        const cap = Math.min(this._options.retryMaxDelay, this._options.retryBaseDelay * 2 ** attempt) * 1000;
        let delay = this._random() * cap;
        if (error.retryAfter !== null) delay = Math.min(error.retryAfter, this._options.retryMaxDelay) * 1000;
        this._emit("refreshretry", { attempt: attempt + 1, delay, error });
        await this._sleep(delay);
        if (this._generation !== generation) return this._afterStaleRefresh();
      }
    }
  }

  async _refreshOnce(reason, staleToken, generation) {
    if (this._generation !== generation) return this._afterStaleRefresh();
    // Re-check inside the lock: another tab may have refreshed while this one waited for it.
    if (this._accessToken && this._accessToken !== staleToken && this._now() < this._sendableUntil) {
      return this._accessToken;
    }
    const body = {};
    if (this._options.transport === "body") {
      if (!this._refreshToken) {
        throw new SessionExpiredError("Not signed in.", { code: "not_signed_in" });
      }
      body.refresh_token = this._refreshToken;
    }
    let response;
    try {
      response = await this._postAuth(this._options.refreshPath, body, {
        signal: timeoutSignal(this._options.refreshTimeout * 1000),
      });
    } catch (error) {
      throw new RefreshFailedError("The server could not be reached.", {
        code: "network_error",
        cause: error,
      });
    }
    const receivedAt = this._now();
    // Landed after a logout (or a new login): this token belongs to a session that is gone.
    if (this._generation !== generation) return this._afterStaleRefresh();
    if (!response.ok) {
      const { code, detail } = await readError(response);
      const status = response.status;
      if (status === 408 || status === 425 || status === 429 || status >= 500) {
        throw new RefreshFailedError(detail, {
          code,
          status,
          retryAfter: retryAfterSeconds(response.headers.get("Retry-After"), this._now()),
        });
      }
      throw new SessionExpiredError(detail, { code, status });
    }
    let data;
    try {
      data = await response.json();
    } catch (error) {
      throw new RefreshFailedError("The refresh response was not JSON.", { cause: error });
    }
    if (this._generation !== generation) return this._afterStaleRefresh();
    const wasSignedIn = this._state === SIGNED_IN;
    this._acceptTokens(data, receivedAt, "refresh");
    this._emit("refresh", { reason, expiresIn: this._lifetime / 1000 });
    if (!wasSignedIn && reason !== "restore") this._emit("login", { source: "restore" });
    return this._accessToken;
  }

  _afterStaleRefresh() {
    // The session this refresh was for is gone; if a new one began meanwhile, use it.
    if (this._state === SIGNED_IN && this._accessToken) return this._accessToken;
    throw this._signedOutError;
  }

  async _withLock(work) {
    if (!this._locks) return work();
    let entered = false;
    const waiting = new AbortController();
    const timer = this._setTimeout(() => {
      waiting.abort(new DOMException("Waited too long for the refresh lock.", "TimeoutError"));
    }, this._options.lockTimeout * 1000);
    try {
      return await this._locks.request(this._options.lockName, { signal: waiting.signal }, () => {
        entered = true;
        this._clearTimeout(timer);
        return work();
      });
    } catch (error) {
      // A tab that holds the lock too long (frozen, or its network hangs) must not block us.
      if (!entered && (error?.name === "TimeoutError" || error?.name === "AbortError")) {
        return work();
      }
      throw error;
    } finally {
      this._clearTimeout(timer);
    }
  }

  // --- state ----------------------------------------------------------------------------

  _acceptTokens(data, receivedAt, source) {
    if (!data || typeof data.access_token !== "string") {
      throw new RefreshFailedError("The token response had no access_token.");
    }
    // Counted from when the response arrived, so the client's clock offset does not matter.
    const lifetime = Math.max(0, Number(data.expires_in) || 0) * 1000;
    if (this._options.transport === "body" && data.refresh_token) {
      this._refreshToken = data.refresh_token;
    }
    this._setToken(data.access_token, receivedAt + lifetime, lifetime, source);
    this._broadcast({
      type: "token",
      accessToken: this._accessToken,
      expiresAt: this._expiresAt,
      lifetime,
    });
  }

  _setToken(token, expiresAt, lifetime, source) {
    this._accessToken = token;
    this._expiresAt = expiresAt;
    this._lifetime = lifetime;
    const margin = Math.min(this._options.refreshMargin * 1000, lifetime / 4);
    const jitter = Math.min(this._options.refreshJitter * 1000, lifetime / 10) * this._random();
    this._refreshDueAt = expiresAt - margin - jitter;
    this._sendableUntil = expiresAt - Math.min(this._options.requestMargin * 1000, lifetime / 10);
    this._state = SIGNED_IN;
    this._schedule();
    this._emit("tokenchange", { source, expiresAt });
  }

  _newGeneration() {
    this._generation += 1;
    this._refreshInFlight = null;
    this._endBackoffWaits();
  }

  _signOut(kind, { error = null, everywhere = false, remote = false } = {}) {
    const wasSignedIn = this._state === SIGNED_IN;
    this._newGeneration();
    this._clearTimer();
    this._accessToken = null;
    this._refreshToken = null;
    this._expiresAt = 0;
    this._lifetime = 0;
    this._state = SIGNED_OUT;
    this._signedOutError =
      error ?? new SessionExpiredError("Signed out.", { code: "signed_out" });
    if (kind === "expired") {
      if (!wasSignedIn) return;
      if (!remote) this._broadcast({ type: "expired" });
      this._emit("sessionexpired", { error: this._signedOutError });
    } else {
      if (!remote) this._broadcast({ type: "logout", everywhere });
      this._emit("logout", { everywhere, remote });
    }
  }

  _onTabMessage(message) {
    if (!message || typeof message !== "object") return;
    if (message.type === "token") {
      if (typeof message.accessToken !== "string" || message.accessToken === this._accessToken) return;
      if (this._state === SIGNED_IN && this._expiresAt > message.expiresAt) return;
      const wasSignedIn = this._state === SIGNED_IN;
      if (!wasSignedIn) this._newGeneration();
      this._setToken(message.accessToken, message.expiresAt, message.lifetime, "tab");
      if (!wasSignedIn) this._emit("login", { source: "tab" });
    } else if (message.type === "logout") {
      if (this._state === SIGNED_OUT) return;
      this._signOut("logout", { everywhere: Boolean(message.everywhere), remote: true });
    } else if (message.type === "expired") {
      // Another tab's refresh was refused. Check for ourselves rather than trust it: that tab
      // may have sent a cookie older than the one a login here has just set.
      if (this._state !== SIGNED_IN) return;
      this._refresh("tab-expired", this._accessToken).catch(() => {});
    }
  }

  _broadcast(message) {
    try {
      this._channel?.postMessage(message);
    } catch {
      // A closed channel: the other tabs catch up at their next refresh.
    }
  }

  // --- timers -----------------------------------------------------------------------------

  _schedule() {
    this._clearTimer();
    if (!this._options.autoRefresh || this._state !== SIGNED_IN) return;
    const delay = Math.max(0, this._refreshDueAt - this._now());
    this._timer = this._setTimeout(() => {
      this._timer = null;
      this._refreshInBackground("timer");
    }, delay);
  }

  _refreshInBackground(reason) {
    const generation = this._generation;
    this._refresh(reason, this._accessToken).catch((error) => {
      // Keep the session through passing failures and try again later.
      if (error instanceof RefreshFailedError && this._generation === generation && this._state === SIGNED_IN) {
        this._clearTimer();
        if (!this._options.autoRefresh) return;
        this._timer = this._setTimeout(() => {
          this._timer = null;
          this._refreshInBackground("timer");
        }, this._options.retryMaxDelay * 1000);
      }
    });
  }

  _recheckDue(reason) {
    if (this._state !== SIGNED_IN) return;
    // Background tabs' timers are throttled or frozen: the token may be due, or past due.
    if (this._now() >= this._refreshDueAt) this._refreshInBackground(reason);
    else if (!this._timer) this._schedule();
  }

  _clearTimer() {
    if (this._timer !== null) this._clearTimeout(this._timer);
    this._timer = null;
  }

  _sleep(ms) {
    return new Promise((resolve) => {
      const done = () => {
        this._clearTimeout(handle);
        this._backoffWaits.delete(done);
        resolve();
      };
      const handle = this._setTimeout(done, ms);
      this._backoffWaits.add(done);
    });
  }

  _endBackoffWaits() {
    for (const wake of [...this._backoffWaits]) wake();
  }

  // --- helpers ----------------------------------------------------------------------------

  _send(input, init, token) {
    const headers = new Headers(init.headers ?? (isRequest(input) ? input.headers : undefined));
    headers.set("Authorization", `Bearer ${token}`);
    return this._fetch(input, { ...init, headers });
  }

  _url(path) {
    return `${this._options.baseUrl}${path}`;
  }

  /**
   * POST a JSON body to one of the auth endpoints: the one place their headers are built. The
   * cookie transport adds the CSRF header (Django checks it wherever the cookie authorises the
   * request), except for the login, which no cookie authorises.
   */
  _postAuth(path, body, { csrf = true, bearer = null, signal } = {}) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (csrf && this._options.transport === "cookie") {
      const token = this._getCsrfToken();
      if (token) headers[this._options.csrfHeaderName] = token;
    }
    return this._fetch(this._url(path), {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      credentials: this._options.credentials,
      cache: "no-store",
      signal,
    });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _listen(target, type, handler) {
    target.addEventListener(type, handler);
    this._listeners.push([target, type, handler]);
  }
}

/**
 * Route an axios instance's requests through `client`: bearer on every request, the same
 * single-flight refresh, one replay after a 401. Return a function that detaches it.
 */
export function attachAxios(instance, client) {
  const KEY = "_authClient";
  const requestId = instance.interceptors.request.use(async (config) => {
    const token = await client.getAccessToken();
    setAxiosHeader(config, "Authorization", `Bearer ${token}`);
    config[KEY] = { ...(config[KEY] ?? {}), token };
    return config;
  });
  const responseId = instance.interceptors.response.use(undefined, async (error) => {
    const config = error?.config;
    const state = config?.[KEY];
    if (error?.response?.status !== 401 || !state || state.retried) throw error;
    if (isStream(config.data)) {
      await client.tokenAfterRejection(state.token).catch(() => {});
      error.notReplayed = true;
      throw error;
    }
    const token = await client.tokenAfterRejection(state.token);
    config[KEY] = { token, retried: true };
    setAxiosHeader(config, "Authorization", `Bearer ${token}`);
    return instance.request(config);
  });
  return () => {
    instance.interceptors.request.eject(requestId);
    instance.interceptors.response.eject(responseId);
  };
}

function setAxiosHeader(config, name, value) {
  if (config.headers && typeof config.headers.set === "function") {
    config.headers.set(name, value);
  } else {
    config.headers = { ...(config.headers ?? {}), [name]: value };
  }
}

function isRequest(value) {
  return typeof Request !== "undefined" && value instanceof Request;
}

function isStream(body) {
  if (!body || typeof body !== "object") return false;
  if (typeof ReadableStream !== "undefined" && body instanceof ReadableStream) return true;
  // Node streams (axios in Node) and other readers.
  return typeof body.pipe === "function" || typeof body.getReader === "function";
}

function timeoutSignal(ms) {
  return typeof AbortSignal !== "undefined" && typeof AbortSignal.timeout === "function"
    ? AbortSignal.timeout(ms)
    : undefined;
}

function readCookie(name) {
  const jar = globalThis.document?.cookie;
  if (!jar) return null;
  for (const part of jar.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

function retryAfterSeconds(value, now) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, (date - now) / 1000);
}

async function readError(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's error page): fall back to the status.
  }
  return {
    code: body && typeof body.code === "string" ? body.code : null,
    detail: body && typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`,
  };
}
