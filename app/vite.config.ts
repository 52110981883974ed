import { defineConfig } from "vite";

// A static build (dist/) that any web server can serve; relative asset paths so it also works
// from a sub-path. The SDK is CommonJS and linked from ../sdk/ts: pre-bundle it like a package.
export default defineConfig({
  base: "./",
  optimizeDeps: { include: ["@ironroot/sdk"] },
  build: { outDir: "dist", chunkSizeWarningLimit: 2000, commonjsOptions: { include: [/sdk\/ts\/dist/, /node_modules/] } },
  define: { "process.env.NODE_DEBUG": "false" },
});
