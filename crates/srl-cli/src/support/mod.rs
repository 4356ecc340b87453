//! What every command shares: the runtime and Ctrl-C ([`runtime`]), progress bars ([`progress`]), JSON Lines
//! files and `-` for stdin/stdout ([`io`]), and typed flag values ([`choice`]).

pub mod io;
pub mod progress;
pub mod runtime;

use std::marker::PhantomData;

use clap::builder::{PossibleValue, TypedValueParser};
use srl_core::Choice;

/// A clap value parser for a closed set of names: the help lists [`Choice::NAMES`], the enum's `FromStr` reads the
/// value (aliases included, e.g. `--grading 5`), and an unknown value is refused with the choices.
pub fn choice<T: Choice>() -> ChoiceParser<T> {
    ChoiceParser(PhantomData)
}

/// See [`choice`].
#[derive(Clone, Copy)]
pub struct ChoiceParser<T>(PhantomData<T>);

impl<T: Choice> TypedValueParser for ChoiceParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let text = value.to_str().ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidUtf8).with_cmd(cmd))?;
        text.parse::<T>().map_err(|e| {
            let flag = arg.map(|a| a.to_string()).unwrap_or_default();
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{flag}: {e}\n")).with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(T::NAMES.iter().map(|n| PossibleValue::new(*n))))
    }
}

#[cfg(test)]
mod tests {
    use srl_eval::Grading;

    #[test]
    fn choices_take_aliases_and_refuse_unknown_values_with_the_names() {
        let arg = clap::Arg::new("g").long("grading").value_parser(super::choice::<Grading>());
        let cmd = clap::Command::new("t").arg(arg);
        let m = cmd.clone().try_get_matches_from(["t", "--grading", "5"]).unwrap();
        assert_eq!(m.get_one::<Grading>("g"), Some(&Grading::V5));
        let m = cmd.clone().try_get_matches_from(["t", "--grading", "4.x"]).unwrap();
        assert_eq!(m.get_one::<Grading>("g"), Some(&Grading::V4));
        let e = cmd.try_get_matches_from(["t", "--grading", "6"]).unwrap_err().to_string();
        assert!(e.contains("--grading") && e.contains("unknown grading \"6\": expected `5.x` or `4.x`"), "{e}");
    }
}
