// Keeps the committed docs honest: the JSON Schema file matches the code, and the example
// config loads with the built-in drivers.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { builtinDrivers } from '../drivers/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { builtinSchemaJson, generateSchemaJson, SCHEMA_FILE } from '../scripts/gen-schema.ts';
import { loadConfig } from '../runtime/config/loader.ts';

const EXAMPLE = fileURLToPath(new URL('../docs/examples/wayside.yaml', import.meta.url));

describe('docs/config.schema.json', () => {
  it('is what gen-schema produces', () => {
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    expect(committed === builtinSchemaJson(), 'docs/config.schema.json is out of date: run `npm run schema` and commit the result').toBe(true);
  });

  it('can be generated with no drivers registered', () => {
    const schema = JSON.parse(generateSchemaJson(createDriverRegistry([])));
    expect(schema.title).toBe('Wayside configuration');
    expect(schema.required).toEqual(['version', 'gateway']);
  });
});

describe('docs/examples/wayside.yaml', () => {
  it('loads as is with the built-in drivers, with nothing set in the environment', () => {
    const config = loadConfig(EXAMPLE, createDriverRegistry(builtinDrivers()), {});
    expect(config.gateway.id).toBe('pole-0001');
    expect(config.devices.length).toBeGreaterThan(0);
  });
});
