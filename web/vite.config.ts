import { defineConfig } from 'vite';

// `npm run dev` serves the client with hot reload on :5173 and passes the
// API, the websocket and the avatars to a server on :8000 (`cargo run --
// serve --dev`, which allows this origin in dev mode). `npm run build`
// writes dist/, which the server serves at `/`.
const backend = process.env.BACKEND_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: true,
    // Nothing inlined: the CSP allows scripts and styles from files only.
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/api': backend,
      '/media': backend,
      '/ws': { target: backend, ws: true },
    },
  },
});
