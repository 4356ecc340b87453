//! Plain types shared by every srl-swe crate.
//!
//! * [`ToolCall`]: one SWE-agent XML function call, with its tolerant parser and its one canonical renderer.
//! * [`Trajectory`] and [`Step`]: an agent run in canonical form, whatever format it was recorded in.
//! * [`Instance`]: a SWE-bench row.
//! * [`Message`] and [`Role`]: chat messages.
//! * [`prompt`]: the one function that turns (task, history window) into chat messages, used by the step
//!   builder for training and by the agent loop at inference, so both see the same bytes.
//! * [`settings`]: typed settings: closed sets of names ([`choice_enum!`]), [`DeviceSpec`], [`DTypeSpec`],
//!   [`SamplingParams`].
//! * [`fs`]: [`fs::write_atomic`], the one atomic file write of the workspace (its only I/O).

pub mod call;
pub mod fs;
pub mod instance;
pub mod message;
pub mod prompt;
pub mod settings;
pub mod text;
pub mod trajectory;

pub use call::{ActionKind, CallError, ToolCall, first_call_end, parse_completion};
pub use instance::Instance;
pub use message::{Message, Role};
pub use prompt::{PromptConfig, SystemPrompt, TaskPrompt, Window, render_prompt};
pub use settings::{Choice, ChoiceError, DTypeSpec, DeviceSpec, SamplingParams};
pub use trajectory::{Step, Trajectory};
