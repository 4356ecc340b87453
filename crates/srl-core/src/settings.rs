//! Typed settings shared by the command line, the trainer's config, the agent and the policy: closed sets of
//! names ([`choice_enum!`]), the device and dtype a model runs on ([`DeviceSpec`], [`DTypeSpec`]), and the
//! sampling parameters ([`SamplingParams`]) embedded wherever sampling is configured.
//!
//! Every type here parses from the string a user writes (`FromStr`, so clap takes it as a flag value) and
//! (de)serializes as that same string (so a TOML or JSON file holds it); an unknown value is an error that
//! lists the choices, and serde's error path names the key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An unknown name for a closed set: says what was given and lists the choices.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}: expected {}", list_choices(.choices))]
pub struct ChoiceError {
    /// What the set is, e.g. `"device"`.
    pub what: &'static str,
    pub given: String,
    pub choices: &'static [&'static str],
}

fn list_choices(choices: &[&str]) -> String {
    match choices {
        [] => String::new(),
        [one] => format!("`{one}`"),
        [init @ .., last] => {
            format!("{} or `{last}`", init.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "))
        }
    }
}

/// A closed set of names (what [`choice_enum!`] implements): a command line lists [`Choice::NAMES`] in its help.
pub trait Choice: FromStr<Err = ChoiceError> + Copy + Send + Sync + 'static {
    /// The canonical names, in declaration order.
    const NAMES: &'static [&'static str];
}

/// A closed set of names as a Rust enum: `FromStr` (with aliases), `Display`, `as_str`, `ALL`, `NAMES`, [`Choice`],
/// and serde as the name, every unknown value answered with a [`ChoiceError`] listing the choices.
///
/// ```
/// srl_core::choice_enum! {
///     /// How a model is trained.
///     #[derive(Default)]
///     pub enum Training: "training" {
///         /// LoRA adapters on frozen base weights.
///         #[default]
///         Lora = "lora",
///         /// Every weight.
///         Full = "full" | "full-finetune",
///     }
/// }
/// assert_eq!("full-finetune".parse::<Training>().unwrap(), Training::Full);
/// assert_eq!(Training::Full.to_string(), "full");
/// let e = "x".parse::<Training>().unwrap_err().to_string();
/// assert_eq!(e, "unknown training \"x\": expected `lora` or `full`");
/// ```
#[macro_export]
macro_rules! choice_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $str:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The canonical names, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($str),+];

            /// The canonical name (what `Display` and serde write).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $str,)+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::settings::ChoiceError;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s.trim() {
                    $($str $(| $alias)* => Ok($name::$variant),)+
                    _ => Err($crate::settings::ChoiceError { what: $what, given: s.to_string(), choices: Self::NAMES }),
                }
            }
        }

        impl $crate::settings::Choice for $name {
            const NAMES: &'static [&'static str] = &[$($str),+];
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::settings::__serde::Serialize for $name {
            fn serialize<S: $crate::settings::__serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::settings::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::settings::__serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::string::String as $crate::settings::__serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(<D::Error as $crate::settings::__serde::de::Error>::custom)
            }
        }
    };
}

#[doc(hidden)]
pub use serde as __serde;

/// Where a model runs: `cpu`, `cuda` (device 0) or `cuda:N`. The policy crate turns it into a candle device
/// (CUDA needs the `cuda` build feature).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DeviceSpec {
    #[default]
    Cpu,
    Cuda(usize),
}

impl DeviceSpec {
    pub fn is_cuda(self) -> bool {
        matches!(self, DeviceSpec::Cuda(_))
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(0) => f.write_str("cuda"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = ChoiceError;
    fn from_str(s: &str) -> Result<Self, ChoiceError> {
        let bad = || ChoiceError { what: "device", given: s.to_string(), choices: &["cpu", "cuda", "cuda:N"] };
        match s.trim() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            t => match t.strip_prefix("cuda:") {
                Some(n) => n.parse().map(DeviceSpec::Cuda).map_err(|_| bad()),
                None => Err(bad()),
            },
        }
    }
}

impl Serialize for DeviceSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

choice_enum! {
    /// The dtype a model's weights and activations use. `auto`: f32 on CPU, bf16 on CUDA.
    #[derive(Default)]
    pub enum DTypeSpec: "dtype" {
        #[default]
        Auto = "auto",
        F32 = "f32" | "float32",
        Bf16 = "bf16" | "bfloat16",
        F16 = "f16" | "float16",
    }
}

impl DTypeSpec {
    /// The dtype on `device`: `Auto` is bf16 on CUDA and f32 elsewhere; the others are themselves.
    pub fn resolve(self, device: DeviceSpec) -> DTypeSpec {
        match self {
            DTypeSpec::Auto if device.is_cuda() => DTypeSpec::Bf16,
            DTypeSpec::Auto => DTypeSpec::F32,
            other => other,
        }
    }
}

/// How one completion is sampled: the parameters every sampler shares (candle's, an OpenAI-compatible
/// server's, the trainer's rollouts). Embedded wherever sampling is configured; the seed and the number of
/// completions belong to the call. `Default`: temperature 1, no top-p/top-k cut, 512 new tokens (the trainer's
/// rollouts); [`SamplingParams::greedy`] for evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingParams {
    /// 0 is greedy (argmax). Default 1.0.
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p` (1.0, default: off).
    pub top_p: f64,
    /// Keep only the `top_k` most likely tokens (0, default: off; OpenAI-compatible servers ignore it).
    pub top_k: usize,
    /// New tokens per completion. Default 512.
    pub max_new_tokens: usize,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams { temperature: 1.0, top_p: 1.0, top_k: 0, max_new_tokens: 512 }
    }
}

impl SamplingParams {
    /// Greedy decoding of at most `max_new_tokens`.
    pub fn greedy(max_new_tokens: usize) -> Self {
        SamplingParams { temperature: 0.0, top_p: 1.0, top_k: 0, max_new_tokens }
    }

    /// Checks the ranges; the error names the field (`temperature`, `top_p`, `max_new_tokens`).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(format!("temperature: must be at least 0, got {}", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("top_p: must be in (0, 1], got {}", self.top_p));
        }
        if self.max_new_tokens == 0 {
            return Err("max_new_tokens: must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print() {
        for (s, d) in [("cpu", DeviceSpec::Cpu), ("cuda", DeviceSpec::Cuda(0)), ("cuda:3", DeviceSpec::Cuda(3))] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap(), d);
            assert_eq!(d.to_string(), s);
        }
        let e = "gpu".parse::<DeviceSpec>().unwrap_err().to_string();
        assert_eq!(e, "unknown device \"gpu\": expected `cpu`, `cuda` or `cuda:N`");
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
    }

    #[test]
    fn dtypes_parse_and_resolve() {
        assert_eq!("bfloat16".parse::<DTypeSpec>().unwrap(), DTypeSpec::Bf16);
        assert_eq!(DTypeSpec::Auto.resolve(DeviceSpec::Cuda(1)), DTypeSpec::Bf16);
        assert_eq!(DTypeSpec::Auto.resolve(DeviceSpec::Cpu), DTypeSpec::F32);
        assert_eq!(DTypeSpec::F16.resolve(DeviceSpec::Cpu), DTypeSpec::F16);
        let e = "f8".parse::<DTypeSpec>().unwrap_err().to_string();
        assert_eq!(e, "unknown dtype \"f8\": expected `auto`, `f32`, `bf16` or `f16`");
    }

    #[test]
    fn serde_names_the_key_and_the_choices() {
        #[derive(Debug, Deserialize, Serialize, PartialEq)]
        struct C {
            device: DeviceSpec,
            dtype: DTypeSpec,
            sampling: SamplingParams,
        }
        let c: C = serde_json::from_str(r#"{"device":"cuda:1","dtype":"bf16","sampling":{"top_k":5}}"#).unwrap();
        assert_eq!(c.device, DeviceSpec::Cuda(1));
        assert_eq!(c.sampling, SamplingParams { top_k: 5, ..Default::default() });
        let back: C = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let e = serde_json::from_str::<C>(r#"{"device":"cpu","dtype":"f64","sampling":{}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown dtype \"f64\": expected `auto`"), "{e}");
        let e = serde_json::from_str::<C>(r#"{"device":"cpu","dtype":"f32","sampling":{"temp":1}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `temp`"), "{e}");
    }

    #[test]
    fn sampling_ranges() {
        assert!(SamplingParams::default().validate().is_ok());
        assert!(SamplingParams::greedy(8).validate().is_ok());
        let e = SamplingParams { top_p: 0.0, ..Default::default() }.validate().unwrap_err();
        assert!(e.starts_with("top_p:"), "{e}");
        assert!(
            SamplingParams { temperature: -1.0, ..Default::default() }
                .validate()
                .unwrap_err()
                .starts_with("temperature:")
        );
        assert!(SamplingParams::greedy(0).validate().unwrap_err().starts_with("max_new_tokens:"));
    }
}
