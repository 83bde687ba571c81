// The build goes to dist/, which the Django site serves under /vue/ (config/urls.py), so the app
// and the API share an origin: the refresh cookie and the CSRF check need nothing more.
// `npm run dev` instead serves the sources on :5173 and proxies /api/ and /_allauth/ to the
// Django site.
import { fileURLToPath } from "node:url";

import vue from "@vitejs/plugin-vue";
import { defineConfig, searchForWorkspaceRoot } from "vite";

const site = process.env.DJANGO_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/vue/",
  plugins: [vue()],
  build: { outDir: "dist", emptyOutDir: true },
  server: {
    // The package is linked from the repository root (file:../..): let the dev server read its
    // one directory, not the whole repository.
    fs: {
      allow: [
        searchForWorkspaceRoot(process.cwd()),
        fileURLToPath(new URL("../../tokens/static/tokens", import.meta.url)),
      ],
    },
    // changeOrigin false: Django sees the page's own host, so its CSRF Origin check passes.
    proxy: {
      "/api": { target: site, changeOrigin: false },
      "/_allauth": { target: site, changeOrigin: false },
    },
  },
});
