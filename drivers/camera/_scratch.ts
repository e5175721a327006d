import { cameraSchema, cameraModelsConfig, resolveSource } from './schema.ts';
const d = cameraSchema.parse({ source: 'file:clip.mp4', zones: [{ name: 'a', polygon: [[0,0],[1,0],[1,1]] }], crossing: { zone: 'a' } });
console.log(JSON.stringify(d), resolveSource(d));
console.log(JSON.stringify(cameraModelsConfig(d)));
const r = cameraSchema.safeParse({ source: 'rtsp://x', zones: [{ name: 'a', polygon: [[0,0],[1.2,0]] }, { name: 'a', polygon: [[0,0],[1,0],[1,1]] }], crossing: { zone: 'b' } });
console.log(r.success || r.error.issues.map(i => i.path.join('.') + ': ' + i.message));
const r2 = cameraSchema.safeParse({ source: 'ftp://x', sourceType: 'auto' });
console.log(r2.success || r2.error.issues.map(i => i.path.join('.') + ': ' + i.message));
