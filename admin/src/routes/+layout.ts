// A single-page app: nothing is rendered on the server or prerendered; index.html is the shell.
export const ssr = false
export const prerender = false
