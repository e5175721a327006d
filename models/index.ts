// Public API of models/: the service the composition root starts, its config section, the CLI
// verb, and the contract types. The other models/ files are its parts.
export { createModelsService, type ModelsHealth, type ModelsService } from './service.ts';
export { modelsConfig, modelsDir, modelsSection, type ModelsConfig } from './schema.ts';
export { modelsCli, type ModelsCliIo } from './cli.ts';
export { createEngine, type Engine, type EngineOptions, type ModelCheck, type ModelStats } from './engine.ts';
export { createRegistry, type InstallFields, type ModelRegistry, type RegistryOptions } from './registry.ts';
export type * from './types.ts';
export { AUDIO_EVENT_TYPES, VIDEO_EVENT_TYPES } from './types.ts';
