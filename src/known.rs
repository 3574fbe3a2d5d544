//! A clap value parser for a value from a known set, offered by shell completion, and
//! checked by the command that uses it rather than by clap.

use std::ffi::OsStr;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};

/// A value from a known set, offered by shell completion, and checked by the command that
/// uses it rather than by clap: the set completes, while what is accepted stays what the
/// command's own parser takes (a service's aliases in any case, such as `file.io` or
/// `0x0.st`; any field a file.io-compatible server sorts by), with its own error and hint.
#[derive(Debug, Clone)]
pub struct Known(Vec<&'static str>);

impl Known {
    pub fn new(values: &[&'static str]) -> Known {
        Known(values.to_vec())
    }

    /// The services' names, as `--service` completes them.
    pub fn services() -> Known {
        Known(crate::services::names())
    }
}

impl TypedValueParser for Known {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().map(|v| PossibleValue::new(*v))))
    }
}
