//! What a long run shows on stderr: a progress bar on a terminal, every problem with an input
//! as a line (above the bar), and the files of a folder left out as not captures.

use exfilmeter_estimate::Progress;
use std::io::IsTerminal;

/// The display of one run.
pub struct Display {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Display {
    /// A display for reading `total` bytes: a bar when stderr is a terminal and not `quiet`.
    pub fn new(quiet: bool, total: u64) -> Display {
        let bar = (!quiet && std::io::stderr().is_terminal())
            .then(|| bar(total))
            .flatten();
        Display { bar, quiet }
    }

    /// Removes the bar.
    pub fn done(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    /// A line of information above the bar (on stderr).
    pub fn say(&self, text: &str) {
        self.line(text);
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(b) => b.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Progress for Display {
    fn file(&mut self, _shown: &str, name: &str) {
        if let Some(b) = &self.bar {
            b.set_message(name.to_string());
        }
    }
    fn advanced(&mut self, bytes: u64, _flows: u64) {
        if let Some(b) = &self.bar {
            b.set_position(bytes);
        }
    }
    fn problem(&mut self, line: &str) {
        self.line(line);
    }
    fn ignored(&mut self, shown: &str) {
        if !self.quiet {
            self.line(&format!("exfilmeter: {shown}: ignored (not a capture)"));
        }
    }
}

fn bar(total: u64) -> Option<indicatif::ProgressBar> {
    let b = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{msg:20!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .ok()?
    .progress_chars("=> ");
    b.set_style(style);
    b.enable_steady_tick(std::time::Duration::from_millis(250));
    Some(b)
}

/// Bytes of all inputs that can be measured (for the bar's total).
pub fn total_size(inputs: &[exfilmeter_ingest::Input]) -> u64 {
    inputs
        .iter()
        .filter_map(|i| std::fs::metadata(&i.path).ok().map(|m| m.len()))
        .sum()
}
