//! The tray app's one error type.

/// What can go wrong in the tray app.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host (core, store, API) failed to start or answer.
    #[error(transparent)]
    Api(#[from] baton_api::Error),
    /// The core refused or failed.
    #[error(transparent)]
    Core(#[from] baton_core::Error),
    /// The data directory cannot be used.
    #[error(transparent)]
    Platform(#[from] baton_platform::Error),
    /// Tauri failed (tray, menu, window).
    #[error(transparent)]
    Tauri(#[from] tauri::Error),
    /// A setting is not acceptable; the sentence says why.
    #[error("{0}")]
    Setting(String),
}

impl serde::Serialize for Error {
    /// Commands answer the webview with the sentence.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
