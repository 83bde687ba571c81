import { createRouter, createWebHistory } from "vue-router";

import { auth, notice } from "./auth.js";
import CallsPage from "./pages/CallsPage.vue";
import LoginPage from "./pages/LoginPage.vue";
import SessionsPage from "./pages/SessionsPage.vue";

export const router = createRouter({
  history: createWebHistory("/vue/"),
  routes: [
    { path: "/", name: "calls", component: CallsPage },
    { path: "/sessions", name: "sessions", component: SessionsPage },
    { path: "/login", name: "login", component: LoginPage, meta: { public: true } },
    { path: "/:rest(.*)", redirect: "/" },
  ],
});

router.beforeEach(async (to) => {
  // After a page load the client has no access token: ask for one through the refresh cookie.
  if (auth.state === "unknown") {
    try {
      await auth.restore();
    } catch {
      notice.value = "The server could not be reached. Try again in a moment.";
    }
  }
  if (to.meta.public) return auth.isSignedIn ? { name: "calls" } : true;
  if (!auth.isSignedIn) return { name: "login", query: { next: to.fullPath } };
  return true;
});

function toLogin(message) {
  notice.value = message;
  const current = router.currentRoute.value;
  if (current.name === "login") return;
  router.replace({ name: "login", query: { next: current.fullPath } });
}

// The session ended (revoked from the admin, expired, ended on another device): one event, however
// many requests were waiting, and each of those requests has already been rejected.
auth.addEventListener("sessionexpired", () => {
  toLogin("Your session has ended. Please log in again.");
});
auth.addEventListener("logout", (event) => {
  const { everywhere, remote } = event.detail;
  if (remote) toLogin("You logged out in another tab.");
  else if (everywhere) toLogin("You have logged out on every device.");
  else toLogin("You have logged out.");
});
// Logged in from another tab: follow it.
auth.addEventListener("login", (event) => {
  if (event.detail.source === "tab" && router.currentRoute.value.name === "login") {
    router.replace({ name: "calls" });
  }
});
