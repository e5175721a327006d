// Node-RED finds a plugin's editor part next to its .js file, so the plugin has this one-line
// entry; the code is TypeScript in src/ (Node 24 strips the types on import).
export { default } from './src/editor.ts';
