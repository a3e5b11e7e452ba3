//! The activity probe for an X11 display: the pointer, and the screensaver extension's idle
//! time.

use std::time::Duration;

use crate::takeover::{ActivityProbe, Sample};

/// The X11 probe: pointer position and the screensaver extension's idle time.
pub struct X11Probe {
    connection: x11rb::rust_connection::RustConnection,
    root: u32,
    screensaver: bool,
}

impl std::fmt::Debug for X11Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Probe")
            .field("screensaver", &self.screensaver)
            .finish()
    }
}

impl X11Probe {
    /// Connects to `display`.
    pub fn connect(display: &str) -> Result<Self, String> {
        use x11rb::connection::{Connection, RequestConnection};
        let (connection, screen) = x11rb::connect(Some(display))
            .map_err(|e| format!("cannot watch the display for the person's input: {e}"))?;
        let root = connection.setup().roots[screen].root;
        let screensaver = connection
            .extension_information(x11rb::protocol::screensaver::X11_EXTENSION_NAME)
            .ok()
            .flatten()
            .is_some();
        Ok(X11Probe {
            connection,
            root,
            screensaver,
        })
    }
}

impl ActivityProbe for X11Probe {
    fn sample(&mut self) -> Result<Sample, String> {
        use x11rb::protocol::screensaver::ConnectionExt as _;
        use x11rb::protocol::xproto::ConnectionExt as _;
        let pointer = self
            .connection
            .query_pointer(self.root)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| e.to_string())?;
        let idle = if self.screensaver {
            self.connection
                .screensaver_query_info(self.root)
                .ok()
                .and_then(|cookie| cookie.reply().ok())
                .map(|info| Duration::from_millis(u64::from(info.ms_since_user_input)))
        } else {
            None
        };
        Ok(Sample {
            pointer: (i32::from(pointer.root_x), i32::from(pointer.root_y)),
            idle,
        })
    }
}
