//! The Windows drivers of takeover detection: low-level mouse and keyboard hooks for the events
//! as they happen, and `GetCursorPos` with `GetLastInputInfo`, sampled as a backstop.
//!
//! A low-level hook sees every input event of the session before any window does, with a flag
//! for injected input (`SendInput`, from any process) and the `dwExtraInfo` its sender put on
//! it. Baton's gateway marks its input with [`OWN_INPUT_MARK`]; an event that is injected and
//! carries that mark is Baton's, and every other event is the person's: a real device, or
//! another tool's `SendInput` (the safe side). So here each event says whose it is, and the
//! [`attribution`](baton_core::takeover::attribution) rules only see the person's.

use std::cell::RefCell;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use windows::Win32::Foundation::{LPARAM, LRESULT, POINT, WPARAM};
use windows::Win32::System::LibraryLoader::GetModuleHandleW;
use windows::Win32::System::SystemInformation::GetTickCount;
use windows::Win32::UI::Input::KeyboardAndMouse::{GetLastInputInfo, LASTINPUTINFO};
use windows::Win32::UI::WindowsAndMessaging::{
    CallNextHookEx, GetCursorPos, GetMessageW, HC_ACTION, KBDLLHOOKSTRUCT, LLKHF_INJECTED,
    LLMHF_INJECTED, MSG, MSLLHOOKSTRUCT, SetWindowsHookExW, WH_KEYBOARD_LL, WH_MOUSE_LL,
};

use crate::native::OWN_INPUT_MARK;
use baton_core::takeover::attribution::{Kind, Observed};
use baton_core::takeover::{ActivityProbe, Drivers, Recorded, Sample};

/// Starts the Windows drivers: the hooks on a thread of their own, and the probe. Nothing to
/// ask permission for; a session without input (a service) fails the hooks, and then sampling
/// is all there is.
pub fn connect(_ask_permission: bool) -> Result<Drivers, String> {
    let mut probe = WindowsProbe;
    probe
        .sample()
        .map_err(|e| format!("takeover detection is off: {e}"))?;
    Ok(Drivers {
        probe: Box::new(probe),
        events: HookRecorder::start(),
    })
}

/// The pointer, and how long ago the session's last input was.
#[derive(Debug, Clone, Copy)]
pub struct WindowsProbe;

impl ActivityProbe for WindowsProbe {
    #[allow(unsafe_code)]
    fn sample(&mut self) -> Result<Sample, String> {
        let mut pointer = POINT::default();
        let mut last = LASTINPUTINFO {
            cbSize: size_of::<LASTINPUTINFO>() as u32,
            dwTime: 0,
        };
        // SAFETY: both calls write only into the structures passed, which outlive them;
        // `cbSize` is set as GetLastInputInfo requires.
        let idle = unsafe {
            GetCursorPos(&mut pointer).map_err(|e| format!("cannot read the pointer: {e}"))?;
            GetLastInputInfo(&mut last)
                .as_bool()
                .then(|| GetTickCount().wrapping_sub(last.dwTime))
        };
        Ok(Sample {
            pointer: (pointer.x, pointer.y),
            idle: idle.map(|ms| Duration::from_millis(u64::from(ms))),
        })
    }
}

/// The session's input as it happens, from low-level hooks. The hooks call back on the thread
/// that set them, from its message loop, so that thread does nothing else; the callbacks only
/// queue the event (a slow low-level hook is removed by Windows without a word).
#[derive(Debug)]
pub struct HookRecorder;

thread_local! {
    /// Where the hook thread's callbacks send what they see.
    static SINK: RefCell<Option<UnboundedSender<Recorded>>> = const { RefCell::new(None) };
}

impl HookRecorder {
    /// Sets the hooks. `Err` when Windows refuses them.
    #[allow(unsafe_code)]
    pub fn start() -> Result<UnboundedReceiver<Recorded>, String> {
        let (tx, rx) = unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("baton-takeover".into())
            .spawn(move || {
                SINK.with(|sink| *sink.borrow_mut() = Some(tx));
                // SAFETY: the callbacks are `extern "system"` functions of the right shape;
                // the module handle is this executable's, which low-level hooks accept; the
                // hooks stay set for the life of this thread, which runs their message loop.
                let set = unsafe {
                    GetModuleHandleW(None).and_then(|module| {
                        let mouse =
                            SetWindowsHookExW(WH_MOUSE_LL, Some(on_mouse), Some(module.into()), 0)?;
                        let keys = SetWindowsHookExW(
                            WH_KEYBOARD_LL,
                            Some(on_key),
                            Some(module.into()),
                            0,
                        )?;
                        Ok((mouse, keys))
                    })
                };
                if let Err(e) = set {
                    let _ = ready_tx.send(Err(format!(
                        "cannot watch the session's input (low-level hooks): {e}"
                    )));
                    return;
                }
                let _ = ready_tx.send(Ok(()));
                let mut msg = MSG::default();
                // SAFETY: `msg` outlives each call. The loop only dispatches the hooks' calls,
                // which Windows makes from inside GetMessageW.
                while unsafe { GetMessageW(&mut msg, None, 0, 0) }.as_bool() {}
                tracing::warn!("watching the session's input ended");
            })
            .map_err(|e| format!("cannot start watching the session's input: {e}"))?;
        ready_rx
            .recv()
            .unwrap_or_else(|_| Err("the input watcher ended at start".into()))?;
        Ok(rx)
    }
}

fn send(observed: Observed) {
    let at = std::time::Instant::now();
    SINK.with(|sink| {
        if let Some(tx) = sink.borrow().as_ref() {
            let _ = tx.send((observed, at));
        }
    });
}

#[allow(unsafe_code)]
unsafe extern "system" fn on_mouse(code: i32, wparam: WPARAM, lparam: LPARAM) -> LRESULT {
    if code == HC_ACTION as i32 {
        // SAFETY: for HC_ACTION, `lparam` points at this event's MSLLHOOKSTRUCT, valid for the
        // length of the call.
        let event = unsafe { &*(lparam.0 as *const MSLLHOOKSTRUCT) };
        let own = is_own(event.flags & LLMHF_INJECTED != 0, event.dwExtraInfo);
        if !own {
            mouse_events(wparam.0 as u32, event.mouseData).for_each(send);
        }
    }
    // SAFETY: passes the event on unchanged, as a hook must.
    unsafe { CallNextHookEx(None, code, wparam, lparam) }
}

#[allow(unsafe_code)]
unsafe extern "system" fn on_key(code: i32, wparam: WPARAM, lparam: LPARAM) -> LRESULT {
    if code == HC_ACTION as i32 {
        // SAFETY: for HC_ACTION, `lparam` points at this event's KBDLLHOOKSTRUCT, valid for the
        // length of the call.
        let event = unsafe { &*(lparam.0 as *const KBDLLHOOKSTRUCT) };
        let own = is_own((event.flags & LLKHF_INJECTED).0 != 0, event.dwExtraInfo);
        if !own && let Some(observed) = key_event(wparam.0 as u32, event.vkCode) {
            send(observed);
        }
    }
    // SAFETY: passes the event on unchanged, as a hook must.
    unsafe { CallNextHookEx(None, code, wparam, lparam) }
}

/// Whether an event is Baton's own: injected, with Baton's mark. A device's event that happens
/// to carry the number is still the person's.
fn is_own(injected: bool, extra_info: usize) -> bool {
    injected && extra_info == OWN_INPUT_MARK as usize
}

// The window messages a low-level hook reports (WinUser.h).
const WM_KEYDOWN: u32 = 0x0100;
const WM_KEYUP: u32 = 0x0101;
const WM_SYSKEYDOWN: u32 = 0x0104;
const WM_SYSKEYUP: u32 = 0x0105;
const WM_MOUSEMOVE: u32 = 0x0200;
const WM_LBUTTONDOWN: u32 = 0x0201;
const WM_LBUTTONUP: u32 = 0x0202;
const WM_RBUTTONDOWN: u32 = 0x0204;
const WM_RBUTTONUP: u32 = 0x0205;
const WM_MBUTTONDOWN: u32 = 0x0207;
const WM_MBUTTONUP: u32 = 0x0208;
const WM_MOUSEWHEEL: u32 = 0x020A;
const WM_XBUTTONDOWN: u32 = 0x020B;
const WM_XBUTTONUP: u32 = 0x020C;
const WM_MOUSEHWHEEL: u32 = 0x020E;

/// A key event, by its message and virtual-key code (the detail, as X11's keycode is there).
fn key_event(message: u32, vk: u32) -> Option<Observed> {
    let kind = match message {
        WM_KEYDOWN | WM_SYSKEYDOWN => Kind::KeyPress,
        WM_KEYUP | WM_SYSKEYUP => Kind::KeyRelease,
        _ => return None,
    };
    Some(Observed::Happened {
        kind,
        detail: (vk & 0xff) as u8,
    })
}

/// A mouse event, in X11's numbering of buttons (1 left, 2 middle, 3 right, 4 to 7 the wheel,
/// 8 and 9 the side buttons) so every platform feeds the rules alike. A wheel turn has no
/// release: it is a press and a release at once, as on X11.
fn mouse_events(message: u32, mouse_data: u32) -> impl Iterator<Item = Observed> {
    let high = (mouse_data >> 16) as u16;
    let wheel_up = (high as i16) > 0;
    let side = if high == 1 { 8 } else { 9 };
    let (press, release, detail) = match message {
        WM_MOUSEMOVE => (Some(Kind::Motion), None, 0),
        WM_LBUTTONDOWN => (Some(Kind::ButtonPress), None, 1),
        WM_LBUTTONUP => (None, Some(Kind::ButtonRelease), 1),
        WM_MBUTTONDOWN => (Some(Kind::ButtonPress), None, 2),
        WM_MBUTTONUP => (None, Some(Kind::ButtonRelease), 2),
        WM_RBUTTONDOWN => (Some(Kind::ButtonPress), None, 3),
        WM_RBUTTONUP => (None, Some(Kind::ButtonRelease), 3),
        WM_MOUSEWHEEL => (
            Some(Kind::ButtonPress),
            Some(Kind::ButtonRelease),
            if wheel_up { 4 } else { 5 },
        ),
        WM_MOUSEHWHEEL => (
            Some(Kind::ButtonPress),
            Some(Kind::ButtonRelease),
            if wheel_up { 7 } else { 6 },
        ),
        WM_XBUTTONDOWN => (Some(Kind::ButtonPress), None, side),
        WM_XBUTTONUP => (None, Some(Kind::ButtonRelease), side),
        _ => (None, None, 0),
    };
    press
        .into_iter()
        .chain(release)
        .map(move |kind| Observed::Happened { kind, detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn happened(kind: Kind, detail: u8) -> Observed {
        Observed::Happened { kind, detail }
    }

    #[test]
    fn only_injected_input_with_baton_s_mark_is_baton_s() {
        assert!(is_own(true, OWN_INPUT_MARK as usize));
        // Another tool's SendInput, and enigo's default mark, are the person's (the safe side).
        assert!(!is_own(true, 0));
        assert!(!is_own(true, 100));
        // A device's event never is Baton's, whatever number it carries.
        assert!(!is_own(false, OWN_INPUT_MARK as usize));
    }

    #[test]
    fn hook_messages_become_the_rules_events() {
        let all = |message, data| mouse_events(message, data).collect::<Vec<_>>();
        assert_eq!(all(WM_MOUSEMOVE, 0), [happened(Kind::Motion, 0)]);
        assert_eq!(all(WM_LBUTTONDOWN, 0), [happened(Kind::ButtonPress, 1)]);
        assert_eq!(all(WM_RBUTTONUP, 0), [happened(Kind::ButtonRelease, 3)]);
        // WHEEL_DELTA up, then down.
        assert_eq!(
            all(WM_MOUSEWHEEL, 120 << 16),
            [
                happened(Kind::ButtonPress, 4),
                happened(Kind::ButtonRelease, 4)
            ]
        );
        assert_eq!(
            all(WM_MOUSEWHEEL, (-120i16 as u16 as u32) << 16),
            [
                happened(Kind::ButtonPress, 5),
                happened(Kind::ButtonRelease, 5)
            ]
        );
        assert_eq!(
            all(WM_XBUTTONDOWN, 2 << 16),
            [happened(Kind::ButtonPress, 9)]
        );
        assert!(all(0x0000, 0).is_empty());
        assert_eq!(
            key_event(WM_SYSKEYDOWN, 0x12),
            Some(happened(Kind::KeyPress, 0x12))
        );
        assert_eq!(
            key_event(WM_KEYUP, 0x0D),
            Some(happened(Kind::KeyRelease, 0x0D))
        );
        assert_eq!(key_event(0x0102, 0x41), None);
    }

    /// Injects a pointer move and a key press and release through `SendInput`, marked `mark`.
    #[allow(unsafe_code)]
    fn inject(mark: usize) {
        use windows::Win32::UI::Input::KeyboardAndMouse::{
            INPUT, INPUT_0, INPUT_KEYBOARD, INPUT_MOUSE, KEYBD_EVENT_FLAGS, KEYBDINPUT,
            KEYEVENTF_KEYUP, MOUSEEVENTF_MOVE, MOUSEINPUT, SendInput, VK_F24,
        };
        let mouse = INPUT {
            r#type: INPUT_MOUSE,
            Anonymous: INPUT_0 {
                mi: MOUSEINPUT {
                    dx: 3,
                    dy: 0,
                    dwFlags: MOUSEEVENTF_MOVE,
                    dwExtraInfo: mark,
                    ..Default::default()
                },
            },
        };
        let key = |flags| INPUT {
            r#type: INPUT_KEYBOARD,
            Anonymous: INPUT_0 {
                ki: KEYBDINPUT {
                    // F24: a key nothing answers, so a real session is not disturbed.
                    wVk: VK_F24,
                    dwFlags: flags,
                    dwExtraInfo: mark,
                    ..Default::default()
                },
            },
        };
        let inputs = [mouse, key(KEYBD_EVENT_FLAGS(0)), key(KEYEVENTF_KEYUP)];
        // SAFETY: the inputs are well-formed and outlive the call; the size is INPUT's.
        let sent = unsafe { SendInput(&inputs, size_of::<INPUT>() as i32) };
        assert_eq!(sent, 3, "SendInput took {sent} of 3 inputs");
    }

    /// The real hooks, fed by the real `SendInput` (under Wine in `make test-windows`): input
    /// with Baton's mark is not reported, the same input unmarked is, as the person's.
    #[test]
    fn the_hooks_report_all_input_but_baton_s_own() {
        let mut events = HookRecorder::start().expect("the hooks are set");
        let drain = |events: &mut UnboundedReceiver<Recorded>, wait: Duration| {
            let until = std::time::Instant::now() + wait;
            let mut seen = Vec::new();
            while std::time::Instant::now() < until {
                match events.try_recv() {
                    Ok((observed, _)) => seen.push(observed),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            seen
        };
        inject(OWN_INPUT_MARK as usize);
        assert_eq!(drain(&mut events, Duration::from_millis(500)), []);
        inject(0);
        let f24 = 0x87;
        assert_eq!(
            drain(&mut events, Duration::from_millis(500)),
            [
                happened(Kind::Motion, 0),
                happened(Kind::KeyPress, f24),
                happened(Kind::KeyRelease, f24)
            ]
        );
    }
}
