//! The X11 drivers of takeover detection: [`X11Recorder`], the display's input events as they
//! happen (RECORD), and [`X11Probe`], the pointer and the screensaver extension's idle time,
//! sampled as a backstop.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use baton_core::takeover::attribution::{Kind, Observed};
use baton_core::takeover::{ActivityProbe, Drivers, Recorded, Sample};

/// Starts the X11 drivers on `$DISPLAY`. `Err` says why there is no takeover detection at all
/// (no display, or it refuses the probe); without RECORD it samples only. Nothing to ask
/// permission for on X11.
pub fn connect(_ask_permission: bool) -> Result<Drivers, String> {
    let display = std::env::var("DISPLAY")
        .ok()
        .filter(|d| !d.is_empty())
        .ok_or("takeover detection needs an X11 display, and DISPLAY is not set")?;
    let probe =
        X11Probe::connect(&display).map_err(|e| format!("takeover detection is off: {e}"))?;
    Ok(Drivers {
        probe: Box::new(probe),
        events: X11Recorder::start(&display),
    })
}

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

/// The display's input as it happens, through the RECORD extension: every client's XTEST
/// `FakeInput` requests, each marked Baton's or not by the process of the client that sent it
/// (X-Resource), and the device events, in the order the server handled them. Read on a thread
/// of its own; see [`baton_core::takeover::attribution`] for what is made of them.
#[derive(Debug)]
pub struct X11Recorder;

/// X11's RECORD categories.
const FROM_SERVER: u8 = 0;
const FROM_CLIENT: u8 = 1;
const CLIENT_DIED: u8 = 3;
/// XTEST's `FakeInput` request.
const FAKE_INPUT: u8 = 2;

impl X11Recorder {
    /// Starts recording `display`. `Err` when the display lacks RECORD or XTEST (then the
    /// sampling [`X11Probe`] is all there is).
    pub fn start(display: &str) -> Result<UnboundedReceiver<Recorded>, String> {
        use x11rb::connection::{Connection, RequestConnection};
        use x11rb::protocol::record::{self, ConnectionExt as _};
        let failed = |e: &dyn std::fmt::Display| format!("cannot record the display's input: {e}");
        // One connection carries the enabled context (it answers nothing else), one asks who
        // sent what.
        let (data, _) = x11rb::connect(Some(display)).map_err(|e| failed(&e))?;
        let (lookup, _) = x11rb::connect(Some(display)).map_err(|e| failed(&e))?;
        let xtest = data
            .extension_information("XTEST")
            .map_err(|e| failed(&e))?
            .ok_or("the display has no XTEST extension")?
            .major_opcode;
        data.extension_information(record::X11_EXTENSION_NAME)
            .map_err(|e| failed(&e))?
            .ok_or("the display has no RECORD extension")?;
        let can_ask = lookup
            .extension_information(x11rb::protocol::res::X11_EXTENSION_NAME)
            .ok()
            .flatten()
            .is_some();
        let none = record::Range8 { first: 0, last: 0 };
        let no_ext = record::ExtRange {
            major: none,
            minor: record::Range16 { first: 0, last: 0 },
        };
        let range = record::Range {
            core_requests: none,
            core_replies: none,
            ext_requests: record::ExtRange {
                major: record::Range8 {
                    first: xtest,
                    last: xtest,
                },
                minor: record::Range16 {
                    first: FAKE_INPUT.into(),
                    last: FAKE_INPUT.into(),
                },
            },
            ext_replies: no_ext,
            delivered_events: none,
            // KeyPress to MotionNotify.
            device_events: record::Range8 { first: 2, last: 6 },
            errors: none,
            client_started: false,
            // The server reuses a gone client's ids: what was learnt of it is forgotten.
            client_died: true,
        };
        let context = data.generate_id().map_err(|e| failed(&e))?;
        data.record_create_context(context, 0, &[record::CS::ALL_CLIENTS.into()], &[range])
            .map_err(|e| failed(&e))?
            .check()
            .map_err(|e| failed(&e))?;
        let (tx, rx) = unbounded_channel();
        std::thread::Builder::new()
            .name("baton-takeover".into())
            .spawn(move || {
                let mut owners = Owners {
                    lookup,
                    can_ask,
                    known: HashMap::new(),
                };
                let replies = match data.record_enable_context(context) {
                    Ok(replies) => replies,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot record the display's input");
                        return;
                    }
                };
                for reply in replies {
                    let Ok(reply) = reply else { break };
                    if reply.category == CLIENT_DIED {
                        owners.known.remove(&reply.xid_base);
                        continue;
                    }
                    let at = std::time::Instant::now();
                    for observed in parse(&reply, xtest, &mut owners) {
                        if tx.send((observed, at)).is_err() {
                            return;
                        }
                    }
                }
                tracing::warn!("recording the display's input ended");
            })
            .map_err(|e| failed(&e))?;
        Ok(rx)
    }
}

/// Which clients are Baton's own: those of this process.
struct Owners {
    lookup: x11rb::rust_connection::RustConnection,
    can_ask: bool,
    known: HashMap<u32, bool>,
}

impl Owners {
    fn is_own(&mut self, xid_base: u32) -> bool {
        use x11rb::protocol::res::{ClientIdMask, ClientIdSpec, ConnectionExt as _};
        if !self.can_ask {
            // Without X-Resource nobody can be told apart: every synthetic event is taken for
            // Baton's, and only devices count as the person.
            return true;
        }
        let lookup = &self.lookup;
        *self.known.entry(xid_base).or_insert_with(|| {
            let spec = ClientIdSpec {
                client: xid_base,
                mask: ClientIdMask::LOCAL_CLIENT_PID,
            };
            let pid = lookup
                .res_query_client_ids(&[spec])
                .ok()
                .and_then(|cookie| cookie.reply().ok())
                .and_then(|reply| reply.ids.first().and_then(|id| id.value.first().copied()));
            // A client whose process the server cannot tell (over TCP, another PID namespace)
            // is taken for Baton's: else Baton's own input would pause its holder at every
            // action. The person's devices are seen all the same.
            pid.is_none_or(|pid| pid == std::process::id())
        })
    }
}

fn parse(
    reply: &x11rb::protocol::record::EnableContextReply,
    xtest: u8,
    owners: &mut Owners,
) -> Vec<Observed> {
    let mut out = Vec::new();
    match reply.category {
        FROM_SERVER => {
            for event in reply.data.as_chunks::<32>().0 {
                if let Some(kind) = Kind::from_x11(event[0] & 0x7f) {
                    let detail = if kind == Kind::Motion { 0 } else { event[1] };
                    out.push(Observed::Happened { kind, detail });
                }
            }
        }
        FROM_CLIENT => {
            let mut rest = &reply.data[..];
            while rest.len() >= 8 {
                // A client's requests come in its own byte order: the other one than this
                // host's when it is swapped.
                let native = u16::from_ne_bytes([rest[2], rest[3]]);
                let units = if reply.client_swapped {
                    native.swap_bytes()
                } else {
                    native
                };
                let length = usize::from(units) * 4;
                if rest[0] == xtest
                    && rest[1] == FAKE_INPUT
                    && let Some(kind) = Kind::from_x11(rest[4])
                {
                    let detail = if kind == Kind::Motion { 0 } else { rest[5] };
                    let own = owners.is_own(reply.xid_base);
                    out.push(Observed::Asked { own, kind, detail });
                }
                if length == 0 || length > rest.len() {
                    break;
                }
                rest = &rest[length..];
            }
        }
        _ => {}
    }
    out
}
