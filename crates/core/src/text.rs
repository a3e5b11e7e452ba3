//! The rules for the texts a request carries (titles, client names, corrections, reasons): bounded,
//! trimmed, and free of the characters that could rewrite the terminal or notification that shows
//! them; and the same rules as regular expressions, for the API's document.

use crate::error::{Error, Result};

/// A non-empty, bounded piece of text, trimmed. Line breaks and tabs may stand inside it, no
/// other control character. The bound counts the text as sent (so the API's document can state
/// it as a `maxLength`), the rest is checked on the trimmed text; [`text_pattern`] says the same
/// as regular expressions for the document.
pub(crate) fn required(text: &str, what: &str, max_chars: usize) -> Result<String> {
    checked(text, what, max_chars, refused_in_multi_line)?
        .ok_or_else(|| Error::Invalid(format!("{what} must not be empty")))
}

/// Checks `text` as sent against `max_chars`, then its trimmed form against `refused`; `None`
/// when it is blank.
fn checked(
    text: &str,
    what: &str,
    max_chars: usize,
    refused: impl Fn(char) -> bool,
) -> Result<Option<String>> {
    if text.chars().count() > max_chars {
        return Err(Error::Invalid(format!(
            "{what} is too long: at most {max_chars} characters"
        )));
    }
    let trimmed = text.trim();
    if let Some(c) = trimmed.chars().find(|c| refused(*c)) {
        return Err(refused_character(what, c));
    }
    Ok(Some(trimmed.to_string()).filter(|t| !t.is_empty()))
}

/// Control characters (escape sequences among them) and the bidirectional overrides: text with
/// them, shown in a terminal or a notification, can rewrite what is around it.
pub fn rewrites_terminals(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// What a one-line text refuses: also the Unicode line and paragraph separators, which
/// notification servers show as line breaks (a title could fake a second line).
pub fn breaks_one_line(c: char) -> bool {
    rewrites_terminals(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// A command line as a run's title: on one line (what a title refuses becomes a space), at
/// most [`crate::lease::limits::TITLE_CHARS`] characters, with `…` where it was cut. For
/// `baton run` and schedule entries that are given no title.
pub fn command_title(command: &[String]) -> String {
    let line: String = command
        .join(" ")
        .chars()
        .map(|c| if breaks_one_line(c) { ' ' } else { c })
        .collect();
    let line = line.trim();
    let max = crate::lease::limits::TITLE_CHARS;
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// In texts that may span lines, line breaks and tabs are allowed.
fn refused_in_multi_line(c: char) -> bool {
    !matches!(c, '\n' | '\t') && rewrites_terminals(c)
}

fn refused_character(what: &str, c: char) -> Error {
    Error::Invalid(format!(
        "{what} contains the control character U+{:04X}, which could rewrite the terminal or notification that shows it: send plain text",
        u32::from(c)
    ))
}

/// A one-line text: also no line breaks or tabs.
pub(crate) fn one_line(text: &str, what: &str, max_chars: usize) -> Result<String> {
    checked(text, what, max_chars, breaks_one_line)?
        .ok_or_else(|| Error::Invalid(format!("{what} must not be empty")))
}

/// Like [`required`], but absent or blank text is simply `None`.
pub(crate) fn optional(text: Option<&str>, what: &str, max_chars: usize) -> Result<Option<String>> {
    match text {
        None => Ok(None),
        Some(text) => checked(text, what, max_chars, refused_in_multi_line),
    }
}

/// The texts a request carries, as regular expressions (ECMA-262 and Python alike) that match
/// exactly what [`crate::lease::Machine`] accepts, for the API's document (a property test holds the two
/// together, and a contract test holds the host to the document).
pub mod text_pattern {
    /// What `str::trim` removes: Unicode's White_Space.
    const SPACE: &str =
        r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
    /// Refused in one-line texts: control characters and bidirectional overrides.
    const ONE_LINE_REFUSED: &str =
        r"\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069";
    /// Refused in texts that may span lines: the same, but for line breaks and tabs.
    const MULTI_LINE_REFUSED: &str =
        r"\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069";

    fn pattern(refused: &str, optional: bool) -> String {
        let core = format!("[^{SPACE}{refused}]([^{refused}]*[^{SPACE}{refused}])?");
        if optional {
            format!("^[{SPACE}]*({core}[{SPACE}]*)?$")
        } else {
            format!("^[{SPACE}]*{core}[{SPACE}]*$")
        }
    }

    /// Titles and client names.
    pub fn one_line() -> String {
        pattern(ONE_LINE_REFUSED, false)
    }

    /// Corrections.
    pub fn multi_line() -> String {
        pattern(MULTI_LINE_REFUSED, false)
    }

    /// Reasons and notes, which may be blank (then they are left out).
    pub fn optional_multi_line() -> String {
        pattern(MULTI_LINE_REFUSED, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_line_makes_a_title_on_one_line_cut_where_too_long() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            command_title(&words(&["sh", "-c", "echo a\nb\u{2028}c\u{1b}[2J"])),
            "sh -c echo a b c [2J"
        );
        let long = command_title(&words(&["echo", &"x".repeat(300)]));
        assert_eq!(long.chars().count(), crate::lease::limits::TITLE_CHARS);
        assert!(long.ends_with('…'));
        assert!(one_line(&long, "the title", crate::lease::limits::TITLE_CHARS).is_ok());
    }
}
