#!/usr/bin/env bash
# Production build: TypeScript -> plain JavaScript in dist/ (same folder layout, imports
# rewritten to .js), plus the data files the code reads at run time. Development runs the .ts
# sources directly (Node 24 type stripping); the build saves that stripper's ~25 MB of RSS
# and its start-up work on a gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist
node_modules/.bin/tsc -p tsconfig.build.json
cp package.json dist/
for d in drivers/*/profiles; do mkdir -p "dist/$d" && cp -r "$d/." "dist/$d/"; done
mkdir -p dist/flows/nodes dist/flows/examples
cp flows/nodes/*.html flows/nodes/package.json dist/flows/nodes/
cp flows/examples/*.json dist/flows/examples/
# The editor plugin's browser script, the node icons, and the examples Node-RED lists (Import → Examples).
cp -r flows/nodes/resources flows/nodes/icons dist/flows/nodes/ && ln -s ../examples dist/flows/nodes/examples
# Node-RED loads each node through its one-line .js entry next to the .html.
for f in flows/nodes/*.js; do sed "s#\./src/\([a-z-]*\)\.ts#./src/\1.js#" "$f" > "dist/$f"; done
echo "wayside: built dist/ (entry dist/main.js)"
