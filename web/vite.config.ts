// The console is served by the Go binary under /admin/ (web/console.go
// embeds dist/). `npm run dev` serves it here instead, with /graphql and
// /media proxied to a running `make run` on :8080 (websockets included).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const api = process.env.JOBSPHERE_URL ?? 'http://localhost:8080';

export default defineConfig({
  base: '/admin/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Same sources, same bytes: `make check-console` compares the
    // committed build with a fresh one.
    sourcemap: false,
    reportCompressedSize: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 800, // one chunk: React, Apollo Client and graphql-js are most of it
  },
  server: {
    port: 5173,
    proxy: {
      '/graphql': { target: api, ws: true, changeOrigin: true },
      '/media': { target: api, changeOrigin: true },
    },
  },
});
