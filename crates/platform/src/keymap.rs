//! Which keys to press for a character, read from the compositor's XKB keymap.
//!
//! A libei sender cannot bring a keymap of its own: it presses evdev keys, and the compositor
//! turns them into characters with the *person's* layout. So to type `é` on a French layout or
//! `@` on a German one, Baton has to look the character up in the keymap the compositor hands
//! over with the keyboard device, and press that key with the modifiers of its level.
//!
//! The lookup is done once per keymap into a plain table ([`KeyTable`]): libxkbcommon's keymap
//! is not `Send`, the table is, and a test can build one from a layout name.

use std::collections::HashMap;

use xkbcommon::xkb;

/// XKB keycodes are evdev keycodes plus 8 (an X11 legacy the keymap keeps).
const EVDEV_OFFSET: u32 = 8;

/// One key press that makes a character: the evdev code and the modifiers held around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Press {
    /// The evdev keycode.
    pub code: u32,
    /// Shift held (the key's second level).
    pub shift: bool,
    /// AltGr held (ISO_Level3_Shift: the third and fourth levels).
    pub altgr: bool,
}

/// Every character the first layout of a keymap can type, and the keys that do it.
#[derive(Debug, Clone, Default)]
pub struct KeyTable {
    by_char: HashMap<char, Press>,
    shift: Option<u32>,
    altgr: Option<u32>,
}

impl KeyTable {
    /// Reads a keymap in XKB's text format (what `ei_keyboard.keymap` carries).
    pub fn from_text(text: &str) -> Option<KeyTable> {
        let text = text.trim_end_matches('\0');
        // libxkbcommon takes a C string: one with a NUL inside is no keymap.
        if text.contains('\0') {
            return None;
        }
        let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
        let keymap = xkb::Keymap::new_from_string(
            &context,
            text.to_string(),
            xkb::KEYMAP_FORMAT_TEXT_V1,
            xkb::KEYMAP_COMPILE_NO_FLAGS,
        )?;
        Some(KeyTable::from_keymap(&keymap))
    }

    /// The table of a layout by name (`us`, `de`, `fr`…), from the system's XKB data: tests.
    pub fn from_layout(layout: &str) -> Option<KeyTable> {
        let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
        let keymap = xkb::Keymap::new_from_names(
            &context,
            "evdev",
            "pc105",
            layout,
            "",
            None,
            xkb::KEYMAP_COMPILE_NO_FLAGS,
        )?;
        Some(KeyTable::from_keymap(&keymap))
    }

    fn from_keymap(keymap: &xkb::Keymap) -> KeyTable {
        let shift_mask = 1u32 << keymap.mod_get_index(xkb::MOD_NAME_SHIFT);
        // AltGr is Mod5 in every layout xkeyboard-config ships.
        let altgr_mask = 1u32 << keymap.mod_get_index("Mod5");
        let mut table = KeyTable::default();
        let first = keymap.min_keycode().raw();
        let last = keymap.max_keycode().raw();
        // Lower levels first, and the lowest keycode first within a level: a character on
        // two keys (the digits of the number pad and of the top row) takes the plainer one.
        for level in 0..4u32 {
            for raw in first..=last {
                let keycode = xkb::Keycode::new(raw);
                if level >= keymap.num_levels_for_key(keycode, 0) || raw < EVDEV_OFFSET {
                    continue;
                }
                let mut masks = [0u32; 8];
                let found = keymap.key_get_mods_for_level(keycode, 0, level, &mut masks);
                // The level's plainest modifier set, made of Shift and AltGr only.
                let Some(mask) = masks[..found.min(masks.len())]
                    .iter()
                    .copied()
                    .filter(|m| m & !(shift_mask | altgr_mask) == 0)
                    .min_by_key(|m| m.count_ones())
                else {
                    continue;
                };
                for sym in keymap.key_get_syms_by_level(keycode, 0, level) {
                    if level == 0 {
                        if *sym == xkb::Keysym::Shift_L && table.shift.is_none() {
                            table.shift = Some(raw - EVDEV_OFFSET);
                        }
                        if *sym == xkb::Keysym::ISO_Level3_Shift && table.altgr.is_none() {
                            table.altgr = Some(raw - EVDEV_OFFSET);
                        }
                    }
                    let Some(c) = sym.key_char() else { continue };
                    // Control characters come from named keys (Return, Tab, Backspace).
                    if c.is_control() {
                        continue;
                    }
                    table.by_char.entry(c).or_insert(Press {
                        code: raw - EVDEV_OFFSET,
                        shift: mask & shift_mask != 0,
                        altgr: mask & altgr_mask != 0,
                    });
                }
            }
        }
        table
    }

    /// The key for `c`, if the layout has one that Baton can press.
    pub fn press(&self, c: char) -> Option<Press> {
        let press = *self.by_char.get(&c)?;
        let modifiers_known =
            (!press.shift || self.shift.is_some()) && (!press.altgr || self.altgr.is_some());
        modifiers_known.then_some(press)
    }

    /// The evdev code of a Shift key.
    pub fn shift(&self) -> Option<u32> {
        self.shift
    }

    /// The evdev code of the AltGr key (ISO_Level3_Shift), if the layout has one.
    pub fn altgr(&self) -> Option<u32> {
        self.altgr
    }

    /// How many characters the layout can type.
    pub fn len(&self) -> usize {
        self.by_char.len()
    }

    /// Whether the layout types nothing at all.
    pub fn is_empty(&self) -> bool {
        self.by_char.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// evdev codes, from linux/input-event-codes.h.
    const KEY_A: u32 = 30;
    const KEY_Q: u32 = 16;
    const KEY_2: u32 = 3;
    const KEY_0: u32 = 11;
    const KEY_LEFTSHIFT: u32 = 42;

    fn layout(name: &str) -> KeyTable {
        KeyTable::from_layout(name).expect("the system's XKB data has this layout")
    }

    #[test]
    fn a_us_layout_types_letters_with_and_without_shift() {
        let us = layout("us");
        assert_eq!(us.shift(), Some(KEY_LEFTSHIFT));
        let plain = |code| Press {
            code,
            shift: false,
            altgr: false,
        };
        assert_eq!(us.press('a'), Some(plain(KEY_A)));
        assert_eq!(
            us.press('A'),
            Some(Press {
                shift: true,
                ..plain(KEY_A)
            })
        );
        assert_eq!(
            us.press('@'),
            Some(Press {
                shift: true,
                ..plain(KEY_2)
            })
        );
        assert_eq!(us.press(' ').map(|p| p.shift), Some(false));
        assert_eq!(us.press('é'), None, "a US layout has no é");
        assert!(
            us.len() >= 94,
            "every printable ASCII character: {}",
            us.len()
        );
    }

    #[test]
    fn another_layout_is_read_as_it_is_not_as_us() {
        let fr = layout("fr");
        // AZERTY: a is where q is on a US keyboard.
        assert_eq!(fr.press('a').map(|p| p.code), Some(KEY_Q));
        assert_eq!(
            fr.press('é').map(|p| (p.code, p.shift)),
            Some((KEY_2, false))
        );
        // @ is AltGr+à (the 0 key).
        assert!(fr.altgr().is_some());
        assert_eq!(
            fr.press('@'),
            Some(Press {
                code: KEY_0,
                shift: false,
                altgr: true,
            })
        );
    }

    #[test]
    fn the_text_format_round_trips_and_garbage_is_refused() {
        let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
        let keymap = xkb::Keymap::new_from_names(
            &context,
            "evdev",
            "pc105",
            "us",
            "",
            None,
            xkb::KEYMAP_COMPILE_NO_FLAGS,
        )
        .expect("us");
        // The compositor's memfd may carry a trailing NUL.
        let text = keymap.get_as_string(xkb::KEYMAP_FORMAT_TEXT_V1) + "\0";
        let table = KeyTable::from_text(&text).expect("a keymap in text form");
        assert_eq!(table.press('z').map(|p| p.code), Some(44));
        assert!(KeyTable::from_text("not a keymap").is_none());
    }
}
