import { defineConfig } from "vite";

// A static build (dist/) that any web server can serve; relative asset paths so it also works
// from a sub-path. The SDK is CommonJS and linked from ../sdk/ts: the dev server pre-bundles it
// like a package (the production build converts CommonJS by itself).
export default defineConfig({
  base: "./",
  optimizeDeps: { include: ["@ironroot/sdk"] },
  build: { outDir: "dist", chunkSizeWarningLimit: 2000 },
});
