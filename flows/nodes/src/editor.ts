// The `wayside-editor` plugin, runtime side: GET <editor>/wayside/devices, behind the editor's
// login (permission wayside.read, which a `read` user has), lists the configured devices and
// their points (name, type, unit, range, writability): the same description the birth message
// carries. The editor side (resources/editor.js, loaded by wayside-editor.html before the nodes)
// builds the device and point pickers, the warnings and the dialog checks on it.
import { bridgeOf, errorText, type CatalogDevice, type RedApi } from './red.ts';

export const DEVICES_PATH = '/wayside/devices';

export interface DevicesAnswer {
  devices: CatalogDevice[];
}

export default function register(RED: RedApi): void {
  // Without the editor there is no admin app to serve it on (and nobody to ask).
  if (!RED.httpAdmin || !RED.auth) return;
  RED.httpAdmin.get(DEVICES_PATH, RED.auth.needsPermission('wayside.read'), (_req, res) => {
    try {
      const answer: DevicesAnswer = { devices: bridgeOf(RED).devices() };
      res.json(answer);
    } catch (err) {
      res.status(500).json({ error: 'devices_unavailable', message: `the device list is not available: ${errorText(err)}` });
    }
  });
}
