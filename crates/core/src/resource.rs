//! Named resources: what agents take turns on. The desktop is the built-in one (capacity 1,
//! the only one with the input gateway); the person declares the others, such as a browser
//! profile (`browser:work`) or two licence seats (`licence:cad`, capacity 2).
//!
//! A name is checked once, here, when it enters Baton (a submit, a declaration, a path), so
//! everything past the edge holds a [`ResourceName`] that is known to be well formed.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Bounds on resources.
pub mod limits {
    /// Longest name, in characters.
    pub const NAME_CHARS: usize = 64;
    /// The largest capacity one resource may have.
    pub const MAX_CAPACITY: u32 = 1000;
    /// The most resources a person may declare besides the desktop.
    pub const MAX_DECLARED: usize = 1000;
    /// The most resources besides the desktop one run may need.
    pub const MAX_PER_RUN: usize = 16;
}

/// The name of a resource: letters, digits and `:` `.` `_` `-`, at most
/// [`limits::NAME_CHARS`] characters, such as `desktop` or `browser:work`. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct ResourceName(Arc<str>);

/// The built-in resource's name.
pub const DESKTOP: &str = "desktop";
/// The pool of private displays, built in where the host can start them (DESIGN rule 14).
pub const DISPLAYS: &str = "displays";

/// The built-in names, made once: the scheduler names the desktop many times per request, and
/// a clone of these is a reference count, not an allocation.
static DESKTOP_NAME: std::sync::LazyLock<ResourceName> =
    std::sync::LazyLock::new(|| ResourceName(Arc::from(DESKTOP)));
static DISPLAYS_NAME: std::sync::LazyLock<ResourceName> =
    std::sync::LazyLock::new(|| ResourceName(Arc::from(DISPLAYS)));

impl ResourceName {
    /// The desktop: the mouse, keyboard and screen.
    pub fn desktop() -> Self {
        DESKTOP_NAME.clone()
    }

    /// The pool of private displays.
    pub fn displays() -> Self {
        DISPLAYS_NAME.clone()
    }

    /// Whether this is the desktop.
    pub fn is_desktop(&self) -> bool {
        &*self.0 == DESKTOP
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pattern a name matches, for the API's document.
    pub fn pattern() -> String {
        format!("^[A-Za-z0-9:._-]{{1,{}}}$", limits::NAME_CHARS)
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ResourceName {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        let chars = name.chars().count();
        if chars == 0 {
            return Err(Error::Invalid("a resource needs a name".into()));
        }
        if chars > limits::NAME_CHARS {
            return Err(Error::Invalid(format!(
                "a resource name has at most {} characters; this one has {chars}",
                limits::NAME_CHARS
            )));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-')))
        {
            return Err(Error::Invalid(format!(
                "'{}' is not a resource name: use letters, digits and ':' '.' '_' '-' only (not {bad:?})",
                name.escape_debug()
            )));
        }
        Ok(ResourceName(Arc::from(name)))
    }
}

impl TryFrom<String> for ResourceName {
    type Error = Error;

    fn try_from(name: String) -> Result<Self> {
        name.parse()
    }
}

/// Written as the text it holds. Not `into = "String"`: that would copy the name into a new
/// string each time, and every waiter's status names its resources at every move of its queue.
impl Serialize for ResourceName {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl From<ResourceName> for String {
    fn from(name: ResourceName) -> String {
        name.0.to_string()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ResourceName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(ResourceName::pattern()))
            .max_length(Some(limits::NAME_CHARS))
            .min_length(Some(1))
            .description(Some(
                "A resource's name: `desktop`, or one the person declared, such as `browser:work`",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ResourceName {}

/// A capacity within 1 and [`limits::MAX_CAPACITY`].
pub fn check_capacity(capacity: u32) -> Result<()> {
    if (1..=limits::MAX_CAPACITY).contains(&capacity) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "a resource's capacity is between 1 and {}; {capacity} is not",
            limits::MAX_CAPACITY
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_once_at_the_edge() {
        for good in [
            "desktop",
            "browser:work",
            "a",
            "licence.cad_2-x",
            &"x".repeat(64),
        ] {
            let name: ResourceName = good.parse().unwrap();
            assert_eq!(name.as_str(), good);
            let json = serde_json::to_value(&name).unwrap();
            assert_eq!(serde_json::from_value::<ResourceName>(json).unwrap(), name);
        }
        for bad in [
            "",
            "a b",
            "naïve",
            "a/b",
            "tab\t",
            &"x".repeat(65),
            "quote'",
        ] {
            assert!(bad.parse::<ResourceName>().is_err(), "{bad:?}");
            assert!(serde_json::from_value::<ResourceName>(bad.into()).is_err());
        }
        assert!(ResourceName::desktop().is_desktop());
        assert!(!"desktop2".parse::<ResourceName>().unwrap().is_desktop());
        let pattern = regex::Regex::new(&ResourceName::pattern()).unwrap();
        assert!(pattern.is_match("browser:work") && !pattern.is_match("a b"));
    }

    #[test]
    fn capacities_are_bounded() {
        assert!(check_capacity(0).is_err());
        assert!(check_capacity(1).is_ok());
        assert!(check_capacity(limits::MAX_CAPACITY).is_ok());
        assert!(check_capacity(limits::MAX_CAPACITY + 1).is_err());
    }
}
