// Node-RED finds a node's help and editor template next to a .js file, so each node has this
// one-line entry; the code is TypeScript in src/ (Node 24 strips the types on import).
export { default } from './src/infer.ts';
