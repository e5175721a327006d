// Keeps the committed docs honest: the JSON Schema file matches the code, and the example
// config loads with the built-in drivers.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { builtinDrivers } from '../../drivers/index.ts';
import { createDriverRegistry } from '../drivers.ts';
import { builtinSchemaJson, generateSchemaJson, SCHEMA_FILE } from './gen-schema.ts';
import { loadConfig } from './loader.ts';

const EXAMPLE = fileURLToPath(new URL('../../docs/examples/wayside.yaml', import.meta.url));

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
  it('loads cleanly with the built-in drivers', () => {
    const config = loadConfig(EXAMPLE, createDriverRegistry(builtinDrivers()), { WAYSIDE_MQTT_PASSWORD: 'example' });
    expect(config.gateway.id).toBe('pole-0001');
    expect(config.uplink.password).toBe('example');
    expect(config.devices.length).toBeGreaterThan(0);
  });
});
