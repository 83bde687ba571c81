// One auth client and one axios instance for the whole app. The access token lives in the
// client's memory; the refresh token in the HttpOnly cookie the server sets. Nothing is written
// to localStorage or sessionStorage.
import axios from "axios";
import { attachAxios, createAuthClient } from "django-tokens-auth-client";
import { ref } from "vue";

export const auth = createAuthClient(); // cookie transport, same origin

export const api = axios.create({ baseURL: "/api/", headers: { Accept: "application/json" } });
// The seed's interceptor pair, done once in the package: bearer on every request, the shared
// single-flight refresh, one replay after a 401, every waiting request settled when it fails.
attachAxios(api, auth);

// What the login page says next time it shows (why the user is there).
export const notice = ref("");

// Refreshes this tab made, for the calls page (and the browser tests) to show.
export const refreshCount = ref(0);
auth.addEventListener("refresh", () => {
  refreshCount.value += 1;
});

// For the browser tests and for poking at it from the console.
window.vueExample = { auth, api };

/** The app path a sign-in returns to: the page the user was sent away from, or the start. */
export function nextPath(query) {
  const next = typeof query.next === "string" ? query.next : "/";
  return next.startsWith("/") && !next.startsWith("//") && next !== "/login" ? next : "/";
}
