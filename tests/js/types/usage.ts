// A typed application's use of the package, checked by `tsc -p tsconfig.json` (never run). It
// imports the package by its name, so the check covers package.json's "exports" and "types" too.
// Each @ts-expect-error line is a misuse the declarations must reject: if one were accepted,
// tsc would fail with "Unused '@ts-expect-error' directive".
import axios from "axios";
import {
  AuthClient,
  AuthError,
  attachAxios,
  createAuthClient,
  LoginError,
  RefreshFailedError,
  SessionExpiredError,
  type AuthClientOptions,
  type AuthState,
} from "django-tokens-auth-client";

const options: AuthClientOptions = {
  baseUrl: "",
  transport: "cookie",
  credentials: "same-origin",
  refreshMargin: 30,
  refreshJitter: 5,
  requestMargin: 2,
  refreshAttempts: 3,
  channel: false,
};
const auth: AuthClient = createAuthClient(options);
const other = new AuthClient({ transport: "body", getCsrfToken: () => null });

// @ts-expect-error: the transport is "cookie" or "body"
createAuthClient({ transport: "header" });
// @ts-expect-error: an unknown option is a typo
createAuthClient({ retries: 3 });

auth.addEventListener("sessionexpired", (event) => {
  const error: SessionExpiredError = event.detail.error;
  const code: string | null = error.code;
  void code;
});
auth.addEventListener("refresh", (event) => {
  const seconds: number = event.detail.expiresIn;
  void seconds;
});
auth.addEventListener("login", (event) => {
  // @ts-expect-error: the login source is one of three strings
  const source: "cookie" = event.detail.source;
  void source;
});

async function main(): Promise<void> {
  const signedIn: boolean = await auth.restore();
  if (!signedIn) {
    try {
      const token: string = await auth.login("alice", "secret");
      void token;
    } catch (error) {
      if (error instanceof LoginError) console.log(error.detail, error.status);
    }
  }
  const response = await auth.fetch("/api/user/info", { headers: { Accept: "application/json" } });
  if (response.notReplayed) console.log("a stream body got a 401");
  const state: AuthState = auth.state;
  const expiresAt: number = auth.expiresAt;
  const token: string | null = auth.accessToken;
  // @ts-expect-error: the token in memory is read-only
  auth.accessToken = "x";
  auth.autoRefresh = false;
  void [state, expiresAt, token];

  const api = axios.create({ baseURL: "/api/" });
  const detach: () => void = attachAxios(api, auth);
  try {
    await Promise.all(Array.from({ length: 3 }, () => api.get("/user/info")));
  } catch (error) {
    if (error instanceof RefreshFailedError) console.log(error.retryAfter);
    else if (error instanceof AuthError) console.log(error.code);
  }
  detach();
  await auth.logout();
  await auth.logoutEverywhere();
  other.close();
}

void main();
