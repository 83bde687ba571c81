// Type declarations for auth-client.js (the same file is the Django static file and the npm
// package's entry point). Checked by `tsc` against tests/js/types/usage.ts (`npm run typecheck`).

/** How the refresh token travels: an HttpOnly cookie (browsers) or JSON bodies (scripts). */
export type Transport = "cookie" | "body";

/** `"unknown"` until `restore()` has asked the server (cookie transport only). */
export type AuthState = "unknown" | "signed-in" | "signed-out";

export interface AuthClientOptions {
  /** Prefix of the auth endpoints; `""` means the page's own origin. */
  baseUrl?: string;
  loginPath?: string;
  refreshPath?: string;
  logoutPath?: string;
  logoutAllPath?: string;
  /** Default `"cookie"`. */
  transport?: Transport;
  /** `fetch` credentials for the auth endpoints; `"include"` when the API is on another origin. */
  credentials?: RequestCredentials;
  /** Django's `CSRF_COOKIE_NAME`; default `"csrftoken"`. */
  csrfCookieName?: string;
  /** Django's `CSRF_HEADER_NAME` as a header; default `"X-CSRFToken"`. */
  csrfHeaderName?: string;
  /** Answer the CSRF token (sites with `CSRF_COOKIE_HTTPONLY`); default: read the cookie. */
  getCsrfToken?: () => string | null;
  /** Refresh in the background before the token expires; default `true`. */
  autoRefresh?: boolean;
  /** Seconds before expiry the background refresh aims for (at most a quarter of the lifetime); 60. */
  refreshMargin?: number;
  /** Seconds of random spread on the background refresh (at most a tenth of the lifetime); 10. */
  refreshJitter?: number;
  /** A request refreshes first when its token has fewer seconds left (at most a tenth); 5. */
  requestMargin?: number;
  /** Attempts per refresh when the failure is passing (network, 408, 429, 5xx); 4. */
  refreshAttempts?: number;
  /** Seconds; the backoff doubles from the base delay up to the max delay. 0.5 and 15. */
  retryBaseDelay?: number;
  retryMaxDelay?: number;
  /** Seconds one refresh request may take; 15. */
  refreshTimeout?: number;
  /** The Web Lock name that serialises refreshes across tabs. */
  lockName?: string;
  /** Seconds to wait for another tab's lock before refreshing anyway; 10. */
  lockTimeout?: number;
  /** The BroadcastChannel name that carries tokens and logouts to other tabs. */
  channelName?: string;
  /** `false` turns the BroadcastChannel off. */
  channel?: false;
  // Injection points for tests; the browser's own by default.
  fetch?: typeof globalThis.fetch;
  now?: () => number;
  random?: () => number;
  setTimeout?: (handler: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  locks?: LockManager | null;
  BroadcastChannel?: typeof globalThis.BroadcastChannel;
  document?: Document | null;
  window?: Window | null;
}

export interface AuthErrorOptions {
  code?: string | null;
  status?: number | null;
  cause?: unknown;
}

/** Base class of the errors this module raises; `code` and `status` come from the server. */
export class AuthError extends Error {
  constructor(detail: string, options?: AuthErrorOptions);
  /** The server's message, or a description of what failed. */
  detail: string;
  /** The server's error code (`session_revoked`, `invalid_credentials`, …), or null. */
  code: string | null;
  /** The HTTP status, or null when no response came. */
  status: number | null;
}

/** The session is over: the user must log in again. */
export class SessionExpiredError extends AuthError {}

/** A refresh failed for a passing reason; the session is kept. */
export class RefreshFailedError extends AuthError {
  constructor(detail: string, options?: AuthErrorOptions & { retryAfter?: number | null });
  /** Seconds the server asked to wait (`Retry-After`), or null. */
  retryAfter: number | null;
}

/** The server refused the username and password, or throttled the attempt. */
export class LoginError extends AuthError {}

export interface AuthEventDetails {
  login: { source: "password" | "restore" | "tab" };
  refresh: { reason: string; expiresIn: number };
  tokenchange: { source: string; expiresAt: number };
  refreshretry: { attempt: number; delay: number; error: RefreshFailedError };
  sessionexpired: { error: SessionExpiredError };
  logout: { everywhere: boolean; remote: boolean };
}

export type AuthEventType = keyof AuthEventDetails;

/** A `Response` that may carry the client's "not replayed" mark (a 401 on a stream body). */
export type AuthResponse = Response & { notReplayed?: true };

export class AuthClient extends EventTarget {
  constructor(options?: AuthClientOptions);
  /** The access token in memory, or null. */
  readonly accessToken: string | null;
  /** When the access token expires, in milliseconds since the Unix epoch (0 when signed out). */
  readonly expiresAt: number;
  /** The access token's lifetime in milliseconds, as the server announced it. */
  readonly lifetime: number;
  readonly state: AuthState;
  readonly isSignedIn: boolean;
  autoRefresh: boolean;

  /** Start a session; rejects with `LoginError`. Resolves with the access token. */
  login(username: string, password: string): Promise<string>;
  /** Resolve true when the refresh cookie names a live session (and sign in), false if none. */
  restore(): Promise<boolean>;
  /** Refresh now, joining a refresh under way; resolve with the new access token. */
  refresh(): Promise<string>;
  /** A token good enough to send now, refreshed first when it is about to expire. */
  getAccessToken(): Promise<string>;
  /** The token to replay a request answered 401 after it went out with `sentToken`. */
  tokenAfterRejection(sentToken: string | null): Promise<string>;
  /** `fetch` with the bearer, the shared refresh and one replay after a 401. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<AuthResponse>;
  /** Demo and test hook, not for applications: make the next request take the 401 path. */
  forgetAccessToken(): void;
  /** End this session; every tab signs out. */
  logout(): Promise<void>;
  /** End every session of the user, on every device. */
  logoutEverywhere(): Promise<void>;
  /** Stop the timer, the listeners and the channel. */
  close(): void;

  addEventListener<K extends AuthEventType>(
    type: K,
    listener: (event: CustomEvent<AuthEventDetails[K]>) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends AuthEventType>(
    type: K,
    listener: (event: CustomEvent<AuthEventDetails[K]>) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/** Create an `AuthClient`. */
export function createAuthClient(options?: AuthClientOptions): AuthClient;

/**
 * The part of an axios instance the adapter uses, so that the package does not depend on axios's
 * own types (any axios 1.x instance fits).
 */
export interface AxiosLikeInstance {
  interceptors: {
    request: {
      use(onFulfilled: (config: any) => any, onRejected?: (error: any) => any): number;
      eject(id: number): void;
    };
    response: {
      use(onFulfilled: ((response: any) => any) | undefined, onRejected?: (error: any) => any): number;
      eject(id: number): void;
    };
  };
  request(config: any): Promise<any>;
}

/**
 * Route an axios instance's requests through `client`: the bearer on each, the shared
 * single-flight refresh, one replay after a 401. Returns a function that detaches it.
 */
export function attachAxios(instance: AxiosLikeInstance, client: AuthClient): () => void;
