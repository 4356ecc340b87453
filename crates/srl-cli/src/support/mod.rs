//! What every command shares: the runtime and Ctrl-C ([`runtime`]), progress bars ([`progress`]), JSON Lines
//! files and `-` for stdin/stdout ([`io`]), and typed flag values ([`choice`]).

pub mod io;
pub mod progress;
pub mod runtime;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use srl_core::Choice;

/// A clap value parser for a closed set of names: the help lists [`Choice::NAMES`], an unknown value is refused
/// with them, and the flag's value is the typed enum.
pub fn choice<T: Choice>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::NAMES).try_map(|s| s.parse::<T>())
}
