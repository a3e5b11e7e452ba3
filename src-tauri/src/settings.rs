//! The tray app's settings, kept in the settings table of Baton's database (one JSON value a
//! key), with defaults for anything missing or unreadable. The host's own settings (default
//! TTL, API port, takeover) are `baton_api::settings`, which every host of the data directory
//! applies at start; the hotkey and the notifications are the tray app's alone.

use baton_api::settings::{HostSettings, load_value, store_value};
use std::collections::BTreeSet;

use baton_core::{ResourceName, Store};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::notice::NoticeKind;

/// The default stop hotkey.
pub const DEFAULT_HOTKEY: &str = "CmdOrCtrl+Alt+Shift+S";

/// Which notifications to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// A run is queued behind the holder.
    pub queued: bool,
    /// The desktop changed hands.
    pub handoff: bool,
    /// The user stopped a run.
    pub stopped: bool,
    /// A run stopped responding.
    pub expired: bool,
    /// The person at the computer took over from the holder.
    pub takeover: bool,
    /// A run waits for the user's OK to take the desktop (when Baton asks first).
    pub ask: bool,
    /// Show none at all; prompts for an OK are held back until it ends.
    pub do_not_disturb: bool,
    /// Which kinds carry their answers (buttons) where the notification server shows them.
    pub answers: AnswerSettings,
    /// Resources besides the desktop whose queueing and hand-offs are announced too (none
    /// unless the person switches one on).
    pub resources: BTreeSet<ResourceName>,
}

/// Per kind, whether its notifications carry their answers; off, they are the text alone (a
/// click still opens the dashboard). Stopped and stopped-responding notices have none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerSettings {
    /// Let it go first, Cancel it.
    pub queued: bool,
    /// Stop it.
    pub handoff: bool,
    /// Give it back, Stop it.
    pub takeover: bool,
    /// Allow, Cancel it.
    pub ask: bool,
}

impl Default for AnswerSettings {
    fn default() -> Self {
        AnswerSettings {
            queued: true,
            handoff: true,
            takeover: true,
            ask: true,
        }
    }
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            queued: true,
            handoff: true,
            stopped: true,
            expired: true,
            takeover: true,
            ask: true,
            do_not_disturb: false,
            answers: AnswerSettings::default(),
            resources: BTreeSet::new(),
        }
    }
}

impl NotifySettings {
    /// Whether a notice of `kind` carries its answers.
    pub fn answers(&self, kind: NoticeKind) -> bool {
        match kind {
            NoticeKind::Queued => self.answers.queued,
            NoticeKind::Handoff => self.answers.handoff,
            NoticeKind::Takeover => self.answers.takeover,
            NoticeKind::Ask => self.answers.ask,
            NoticeKind::Stopped | NoticeKind::Expired => true,
        }
    }

    /// Whether `notice` is shown: its kind is, and a resource's only where switched on.
    pub fn shows(&self, notice: &crate::notice::Notice) -> bool {
        self.allows(notice.kind)
            && notice
                .resource
                .as_ref()
                .is_none_or(|r| self.resources.contains(r))
    }

    /// Whether a notice of `kind` is shown.
    pub fn allows(&self, kind: NoticeKind) -> bool {
        !self.do_not_disturb
            && match kind {
                NoticeKind::Queued => self.queued,
                NoticeKind::Handoff => self.handoff,
                NoticeKind::Stopped => self.stopped,
                NoticeKind::Expired => self.expired,
                NoticeKind::Takeover => self.takeover,
                NoticeKind::Ask => self.ask,
            }
    }
}

/// Everything the tray app keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The global hotkey that stops the holder (an accelerator: `CmdOrCtrl+Alt+Shift+S`).
    pub hotkey: String,
    /// Which notifications to show.
    pub notifications: NotifySettings,
    /// The host's own settings (default TTL, API port, takeover), which every host of the data
    /// directory starts with.
    pub host: HostSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            hotkey: DEFAULT_HOTKEY.into(),
            notifications: NotifySettings::default(),
            host: HostSettings::default(),
        }
    }
}

const HOTKEY: &str = "tray.hotkey";
const NOTIFICATIONS: &str = "tray.notifications";

impl Settings {
    /// Reads the settings; a missing or unreadable value gets its default (and a warning).
    pub async fn load(store: &Store) -> Settings {
        Settings {
            hotkey: load_value(store, HOTKEY)
                .await
                .unwrap_or_else(|| DEFAULT_HOTKEY.into()),
            notifications: load_value(store, NOTIFICATIONS).await.unwrap_or_default(),
            host: HostSettings::load(store).await,
        }
    }

    /// Stores the hotkey.
    pub async fn save_hotkey(store: &Store, hotkey: &str) -> Result<()> {
        Ok(store_value(store, HOTKEY, &hotkey).await?)
    }

    /// Stores the notification switches.
    pub async fn save_notifications(store: &Store, notifications: &NotifySettings) -> Result<()> {
        Ok(store_value(store, NOTIFICATIONS, notifications).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_stored_before_answers_existed_keep_every_answer_on() {
        let old: NotifySettings =
            serde_json::from_str(r#"{"queued":false,"do_not_disturb":false}"#)
                .expect("an older value still reads");
        assert!(
            !old.queued && old.ask,
            "missing switches take their defaults"
        );
        assert!(old.answers(NoticeKind::Queued) && old.answers(NoticeKind::Ask));
        let mut quiet = NotifySettings::default();
        quiet.answers.handoff = false;
        assert!(!quiet.answers(NoticeKind::Handoff));
        assert!(quiet.allows(NoticeKind::Handoff), "still shown, as text");
        quiet.do_not_disturb = true;
        assert!(
            !quiet.allows(NoticeKind::Ask),
            "Do Not Disturb holds prompts back too"
        );
        assert!(serde_json::from_str::<NotifySettings>(r#"{"answers":{"queued":"yes"}}"#).is_err());
    }
}
