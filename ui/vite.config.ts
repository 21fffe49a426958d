/// <reference types="vitest/config" />
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// The app is one page; `tests/harness.html` is a second entry used only by the UI tests (it
// loads the same app against a scripted backend made with @tauri-apps/api/mocks).
export default defineConfig(({ mode }) => ({
  clearScreen: false,
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  server: { port: 5173, strictPort: true },
  build: {
    target: 'es2022',
    outDir: mode === 'harness' ? 'dist-harness' : 'dist',
    emptyOutDir: true,
    rollupOptions: {
      input: resolve(__dirname, mode === 'harness' ? 'tests/harness.html' : 'index.html'),
    },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
}));
