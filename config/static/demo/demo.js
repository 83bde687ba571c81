// The demo page: everything goes through the JS client in cookie mode.
import { createAuthClient, LoginError, SessionExpiredError } from "../tokens/auth-client.js";

const client = createAuthClient({ transport: "cookie" });
// For the browser tests and for poking at it from the console.
window.demo = { client };

const $ = (id) => document.getElementById(id);
const views = { checking: $("checking"), login: $("login"), app: $("app") };
let refreshCount = 0;
let ticker = null;

function show(name) {
  for (const [key, element] of Object.entries(views)) element.hidden = key !== name;
  document.body.dataset.view = name;
}

function log(text) {
  const item = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString([], { hour12: false }) +
    `.${String(Date.now() % 1000).padStart(3, "0")}`;
  item.append(time, text);
  $("log").prepend(item);
}

function showLogin(message = "") {
  clearInterval(ticker);
  ticker = null;
  $("login-message").textContent = message;
  $("login-message").hidden = !message;
  $("login-error").hidden = true;
  show("login");
  $("username").focus();
}

async function showApp() {
  // The hint to restart with 30-second tokens, only where that would shorten them.
  $("short-token-hint").hidden = client.lifetime <= 30_000;
  show("app");
  if (!ticker) ticker = setInterval(tick, 100);
  tick();
  try {
    const response = await client.fetch("/api/user/info");
    if (!response.ok) return;
    const user = await response.json();
    $("user-name").textContent = user.username;
    $("user-email").textContent = user.email || "—";
    $("user-id").textContent = user.id;
  } catch (error) {
    if (!(error instanceof SessionExpiredError)) log(`Could not load the user: ${error.message}`);
  }
}

function tick() {
  const left = client.expiresAt - Date.now();
  const fill = $("meter-fill");
  if (!client.isSignedIn) return;
  $("countdown").textContent = left <= 0
    ? "expired"
    : left < 60_000
      ? `${(left / 1000).toFixed(1)} s`
      : `${Math.floor(left / 60_000)} min ${String(Math.floor(left / 1000) % 60).padStart(2, "0")} s`;
  const share = client.lifetime ? Math.max(0, Math.min(1, left / client.lifetime)) : 0;
  fill.style.width = `${share * 100}%`;
  fill.classList.toggle("low", share < 0.25);
}

client.addEventListener("refresh", (event) => {
  refreshCount += 1;
  $("refresh-count").textContent = String(refreshCount);
  log(`Refreshed (${event.detail.reason}): new access token for ${event.detail.expiresIn} s`);
});
client.addEventListener("tokenchange", (event) => {
  if (event.detail.source === "tab") log("Got a new access token from another tab");
  if (event.detail.source === "forget") log("Forgot the access token: the next call gets a 401");
});
client.addEventListener("refreshretry", (event) => {
  log(`Refresh failed (${event.detail.error.message}); retry ${event.detail.attempt} soon`);
});
client.addEventListener("login", (event) => {
  if (event.detail.source === "tab") {
    log("Signed in from another tab");
    showApp();
  }
});
client.addEventListener("sessionexpired", (event) => {
  const { code, detail } = event.detail.error;
  showLogin(`Your session has ended${code ? ` (${code})` : ""}: ${detail} Please log in again.`);
});
client.addEventListener("logout", (event) => {
  if (event.detail.remote) showLogin("You logged out in another tab.");
});

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = event.submitter ?? $("login-form").querySelector("button");
  button.disabled = true;
  $("login-error").hidden = true;
  try {
    await client.login($("username").value, $("password").value);
    $("password").value = "";
    log("Logged in");
    await showApp();
  } catch (error) {
    $("login-error").textContent = error instanceof LoginError ? error.detail : error.message;
    $("login-error").hidden = false;
  } finally {
    button.disabled = false;
  }
});

$("auto-refresh").addEventListener("change", (event) => {
  client.autoRefresh = event.target.checked;
  log(client.autoRefresh ? "Background refresh on" : "Background refresh off");
});

$("call-api").addEventListener("click", async () => {
  const result = $("api-result");
  result.className = "result";
  result.textContent = "Calling…";
  const calls = Array.from({ length: 10 }, () => client.fetch("/api/user/info"));
  const outcomes = await Promise.allSettled(calls);
  const ok = outcomes.filter((o) => o.status === "fulfilled" && o.value.ok).length;
  const failures = outcomes
    .map((o) => (o.status === "fulfilled" ? (o.value.ok ? null : `HTTP ${o.value.status}`) : o.reason.name))
    .filter(Boolean);
  result.textContent = `${ok} of 10 calls succeeded${failures.length ? ` (${[...new Set(failures)].join(", ")})` : ""}`;
  result.classList.add(ok === 10 ? "ok" : "bad");
  log(`Called the API 10 times: ${ok} succeeded`);
});

// forgetAccessToken() is the client's demo hook (not for applications): it shows the 401 path.
$("forget-token").addEventListener("click", () => client.forgetAccessToken());

$("logout").addEventListener("click", async () => {
  const done = client.logout();
  showLogin("You have logged out.");
  try {
    await done;
  } catch (error) {
    showLogin(`Logged out here, but the server said: ${error.message}`);
  }
});

$("logout-all").addEventListener("click", async () => {
  try {
    await client.logoutEverywhere();
    showLogin("You have logged out on every device.");
  } catch (error) {
    if (!(error instanceof SessionExpiredError)) log(`Log out everywhere failed: ${error.message}`);
  }
});

// After a page load the access token is gone (it lived in memory): get one through the cookie.
try {
  if (await client.restore()) {
    log("Session restored through the refresh cookie");
    await showApp();
  } else {
    showLogin();
  }
} catch (error) {
  showLogin(`Could not reach the server (${error.message}). Reload to try again.`);
}
