// Writes docs/config.schema.json: the JSON Schema of the config file as the operator writes it
// (durations as "5s", secrets as { env }), with every built-in driver's device fields, so
// editors with yaml-language-server autocomplete and check wayside.yaml. Run: npm run schema
// Lives outside runtime/ because it imports the built-in drivers.
import { realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { productRegistry } from '../main.ts';
import { createDriverRegistry, type DriverRegistry } from '../runtime/drivers.ts';
import { configSchema } from '../runtime/config/schema.ts';

export const SCHEMA_FILE = fileURLToPath(new URL('../docs/config.schema.json', import.meta.url));

/** The schema file's exact text (stable key order, trailing newline) for a registry. */
export function generateSchemaJson(registry: DriverRegistry): string {
  const body = z.toJSONSchema(configSchema(registry), { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema, ...rest } = body;
  const doc = {
    $schema,
    title: 'Wayside configuration',
    description:
      'The wayside.yaml file of a Wayside edge agent. Durations: "500ms", "5s", "10m", "1h", "7d" or seconds; sizes: "512KiB", "16MB", "256MiB" or bytes. See docs/config.md.',
    ...rest,
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

export function builtinSchemaJson(): string {
  return generateSchemaJson(productRegistry().registry);
}

const invoked = process.argv[1] ? realpathSync(path.resolve(process.argv[1])) : '';
if (invoked === realpathSync(fileURLToPath(import.meta.url))) {
  writeFileSync(SCHEMA_FILE, builtinSchemaJson());
  process.stdout.write(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}\n`);
}
