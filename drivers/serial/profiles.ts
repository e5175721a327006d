// Serial sensor profiles: data files in profiles/ (<name>.yaml, .yml or .json), or any path
// relative to the config file, checked by the same schema as an inline `format:` and loaded by
// the common profile loader. Adding a sensor means adding a file.
import { fileURLToPath } from 'node:url';
import * as common from '../common/profiles.ts';
import { profileSchema, type SerialProfile } from './format.ts';

export { ProfileError } from '../common/profiles.ts';

export const PROFILE_DIR = fileURLToPath(new URL('./profiles/', import.meta.url));

export const serialProfiles: common.ProfileKind<typeof profileSchema> = { family: 'serial', dir: PROFILE_DIR, schema: profileSchema };

/** Names of the shipped profiles (file names without extension), sorted. */
export const profileNames = (): string[] => common.shippedProfiles(PROFILE_DIR);

/** A shipped profile by name, or a file by path (relative to `baseDir`); throws ProfileError naming file and line. */
export const loadProfile = (ref: string, baseDir?: string): SerialProfile & common.ProfileOrigin => common.loadProfile(serialProfiles, ref, baseDir);
