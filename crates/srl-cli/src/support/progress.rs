//! Progress bars and spinners (hidden when stderr is not a terminal; lines then go to stdout).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner for work of unknown length (image builds), its message the latest line of progress.
pub fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {msg}").unwrap_or(ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A bar over `n` items (instances, trajectories, steps) with a running count in its message.
pub fn bar(n: usize) -> ProgressBar {
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")
            .unwrap_or(ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// One line above the bar, or on stdout when the bar is hidden (not a terminal).
pub fn say(bar: &ProgressBar, line: impl std::fmt::Display) {
    if bar.is_hidden() { println!("{line}") } else { bar.println(line.to_string()) }
}

/// At most `n` characters of `s`, with an ellipsis when cut.
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n).collect::<String>() + "…" }
}

/// A bar over instances with the running count in its message (`resolved R/D[, E errors][, NOTE]`).
pub struct Tally {
    pub bar: ProgressBar,
    done: usize,
    resolved: usize,
    errors: usize,
    note: Option<String>,
}

impl Tally {
    /// A bar over `n` items still to do, counting from what earlier runs did (`done`, of which `resolved`).
    pub fn new(n: usize, done: usize, resolved: usize) -> Tally {
        let t = Tally { bar: bar(n), done, resolved, errors: 0, note: None };
        t.show();
        t
    }

    /// A note shown after the counts from the next item on (the image disk); without a terminal it ends each
    /// item's line (`LINE | NOTE`).
    pub fn note(&mut self, note: Option<String>) {
        self.note = note;
    }

    /// One item finished: its line above the bar, and the counts.
    pub fn record(&mut self, line: impl std::fmt::Display, resolved: bool, error: bool) {
        self.done += 1;
        self.resolved += usize::from(resolved);
        self.errors += usize::from(error);
        match &self.note {
            Some(note) if self.bar.is_hidden() => println!("{line} | {note}"),
            _ => say(&self.bar, line),
        }
        self.show();
        self.bar.inc(1);
    }

    fn show(&self) {
        let errors = if self.errors > 0 { format!(", {} errors", self.errors) } else { String::new() };
        let note = self.note.as_ref().map_or(String::new(), |n| format!(", {n}"));
        self.bar.set_message(format!("resolved {}/{}{errors}{note}", self.resolved, self.done));
    }
}
