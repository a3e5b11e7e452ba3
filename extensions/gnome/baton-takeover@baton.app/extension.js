// Baton's GNOME Shell extension: which input device did that?
//
// On Wayland no program sees the session's input, and GNOME reports input from every source
// alike to programs (its idle monitor counts Baton's own libei input as the person's). Only the
// shell knows which device each event came from. This extension tells Baton exactly that, and
// nothing more: a number for each input device object (Baton's libei devices and the person's
// are different objects), on the session bus, as app.baton.InputSource on /app/baton/InputSource:
//   signal Input(u device, u type)      the device of the latest input (once per burst: mutter
//                                       reports the last device whenever it changes)
//   signal DeviceAdded(u device, u type), DeviceRemoved(u device)
//   method Devices() -> a(uu)           every input device now, for Baton to claim its own
// No key, no position, no window ever leaves the shell.
import Clutter from 'gi://Clutter';
import Gio from 'gi://Gio';
import GLib from 'gi://GLib';

import {Extension} from 'resource:///org/gnome/shell/extensions/extension.js';

const PATH = '/app/baton/InputSource';
const INTERFACE = `<node>
  <interface name="app.baton.InputSource">
    <method name="Devices"><arg type="a(uu)" name="devices" direction="out"/></method>
    <signal name="Input"><arg type="u" name="device"/><arg type="u" name="type"/></signal>
    <signal name="DeviceAdded"><arg type="u" name="device"/><arg type="u" name="type"/></signal>
    <signal name="DeviceRemoved"><arg type="u" name="device"/></signal>
  </interface>
</node>`;

export default class BatonTakeover extends Extension {
    enable() {
        this._ids = new Map();
        this._next = 1;
        this._seat = Clutter.get_default_backend().get_default_seat();
        this._dbus = Gio.DBusExportedObject.wrapJSObject(INTERFACE, this);
        this._dbus.export(Gio.DBus.session, PATH);
        this._added = this._seat.connect('device-added', (_seat, device) => {
            this._dbus.emit_signal('DeviceAdded',
                new GLib.Variant('(uu)', [this._id(device), device.get_device_type()]));
        });
        this._removed = this._seat.connect('device-removed', (_seat, device) => {
            const id = this._ids.get(device);
            if (id === undefined)
                return;
            this._ids.delete(device);
            this._dbus.emit_signal('DeviceRemoved', new GLib.Variant('(u)', [id]));
        });
        this._last = global.backend.connect('last-device-changed', (_backend, device) => {
            if (!device)
                return;
            this._dbus.emit_signal('Input',
                new GLib.Variant('(uu)', [this._id(device), device.get_device_type()]));
        });
    }

    disable() {
        global.backend.disconnect(this._last);
        this._seat.disconnect(this._added);
        this._seat.disconnect(this._removed);
        this._dbus.unexport();
        this._dbus = null;
        this._ids = null;
        this._seat = null;
    }

    // A number per device object, stable while the device exists.
    _id(device) {
        let id = this._ids.get(device);
        if (id === undefined) {
            id = this._next++;
            this._ids.set(device, id);
        }
        return id;
    }

    Devices() {
        return this._seat.list_devices().map(d => [this._id(d), d.get_device_type()]);
    }
}
