//! Input validation under arbitrary batches and screens: no batch may make it panic or wrap a
//! number (the extremes of i32 and u64 included), and a batch it accepts stays within the
//! limits. Each 9 bytes are one action: its kind, then two 32-bit numbers; the first 8 bytes
//! are the screen. Key combinations come from the bytes as text.
#![no_main]

use baton_core::input::{Action, Button, limits, parse_combo, validate};
use libfuzzer_sys::fuzz_target;

fn number(bytes: &[u8]) -> i32 {
    i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let screen = (number(&data[..4]), number(&data[4..8]));
    let buttons = [Button::Left, Button::Right, Button::Middle];
    let actions: Vec<Action> = data[8..]
        .chunks_exact(9)
        .map(|op| {
            let (a, b) = (number(&op[1..5]), number(&op[5..9]));
            match op[0] % 9 {
                0 => Action::Move {
                    x: a,
                    y: b,
                    relative: false,
                },
                1 => Action::Move {
                    x: a,
                    y: b,
                    relative: true,
                },
                2 => Action::Click {
                    button: buttons[(a as u32 % 3) as usize],
                    count: b as u8,
                },
                3 => Action::Down {
                    button: buttons[(a as u32 % 3) as usize],
                },
                4 => Action::Up {
                    button: buttons[(b as u32 % 3) as usize],
                },
                5 => Action::Type {
                    text: String::from_utf8_lossy(&op[1..]).into_owned(),
                },
                6 => Action::Key {
                    combo: String::from_utf8_lossy(&op[1..]).into_owned(),
                },
                7 => Action::Scroll { dx: a, dy: b },
                _ => Action::Wait {
                    ms: u64::from(a as u32) << 32 | u64::from(b as u32),
                },
            }
        })
        .collect();
    if let Ok(steps) = validate(&actions, screen) {
        assert_eq!(steps.len(), actions.len());
        assert!(steps.len() <= limits::ACTIONS);
    }
    let _ = parse_combo(&String::from_utf8_lossy(data));
});
