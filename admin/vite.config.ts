import adapter from '@sveltejs/adapter-static'
import { sveltekit } from '@sveltejs/kit/vite'
import { defineConfig } from 'vite'

/**
 * The admin console: a single-page app built to static files (build/) that the API process serves
 * under /admin (server/http/admin-console.ts). Every route falls back to index.html.
 */
export default defineConfig({
  plugins: [
    sveltekit({
      adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', precompress: true }),
      paths: { base: '/admin', relative: false },
      compilerOptions: { runes: true },
    }),
  ],
  server: {
    // `bun run dev` in admin/ proxies the API of a server running on :3000.
    proxy: { '/api': 'http://localhost:3000' },
  },
})
