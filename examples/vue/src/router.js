import { createRouter, createWebHistory } from "vue-router";

import { pendingFlow } from "./allauth.js";
import { auth, notice } from "./auth.js";
import CallsPage from "./pages/CallsPage.vue";
import LoginPage from "./pages/LoginPage.vue";
import PasswordResetPage from "./pages/PasswordResetPage.vue";
import SessionsPage from "./pages/SessionsPage.vue";
import SignupPage from "./pages/SignupPage.vue";
import TwoFactorLoginPage from "./pages/TwoFactorLoginPage.vue";
import TwoFactorPage from "./pages/TwoFactorPage.vue";
import VerifyEmailPage from "./pages/VerifyEmailPage.vue";

export const router = createRouter({
  history: createWebHistory("/vue/"),
  routes: [
    { path: "/", name: "calls", component: CallsPage },
    { path: "/sessions", name: "sessions", component: SessionsPage },
    { path: "/two-factor", name: "security", component: TwoFactorPage },
    // The sign-in pages (django-allauth's flows); `flow`: the step a page continues, which opens
    // only while the server waits for it (the flow's state is in memory: a reload starts over).
    { path: "/login", name: "login", component: LoginPage, meta: { public: true } },
    {
      path: "/login/two-factor",
      name: "two-factor",
      component: TwoFactorLoginPage,
      meta: { public: true, flow: "mfa_authenticate" },
    },
    { path: "/signup", name: "signup", component: SignupPage, meta: { public: true } },
    {
      path: "/signup/verify-email",
      name: "verify-email",
      component: VerifyEmailPage,
      meta: { public: true, flow: "verify_email" },
    },
    {
      path: "/password-reset",
      name: "password-reset",
      component: PasswordResetPage,
      meta: { public: true },
    },
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
  if (to.meta.public) {
    if (auth.isSignedIn) return { name: "calls" };
    if (to.meta.flow && pendingFlow.value?.id !== to.meta.flow) return { name: "login" };
    return true;
  }
  if (!auth.isSignedIn) return { name: "login", query: { next: to.fullPath } };
  return true;
});

function toLogin(message) {
  notice.value = message;
  const current = router.currentRoute.value;
  if (current.name === "login") return;
  // From a sign-in page, the login page; from a page of the app, back there after logging in.
  router.replace(current.meta.public ? { name: "login" } : { name: "login", query: { next: current.fullPath } });
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
// Logged in from another tab: follow it, from whichever sign-in page this one shows.
auth.addEventListener("login", (event) => {
  if (event.detail.source === "tab" && router.currentRoute.value.meta.public) {
    router.replace({ name: "calls" });
  }
});
