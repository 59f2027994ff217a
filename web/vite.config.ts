import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const webRoot = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(webRoot, '..');

// Builds the web client into dist/web, which the server serves at / (src/web/static.ts).
export default defineConfig({
  root: webRoot,
  plugins: [react()],
  resolve: {
    alias: [
      // The browser build of this micromark dependency decodes entities through innerHTML;
      // its table-based build does the same without handing any text to the HTML parser.
      {
        find: /^decode-named-character-reference$/,
        replacement: path.join(projectRoot, 'node_modules/decode-named-character-reference/index.js'),
      },
    ],
  },
  build: {
    outDir: path.join(projectRoot, 'dist/web'),
    emptyOutDir: true,
    // The preload polyfill is injected as code; modern browsers need none, and the CSP allows no inline script.
    modulePreload: { polyfill: false },
    sourcemap: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:3000', ws: true },
    },
  },
});
