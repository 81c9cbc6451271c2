//! Progress display for long commands: indicatif bars on stderr while a run, a comparison or a
//! sweep works, and nothing at all when stderr is not a terminal or `--quiet` is given (so
//! pipes, files and CI logs get nothing but results).
//!
//! Owns: the bars and their look. May not: print results (the commands do) or reach into the
//! engine (the engine only calls a plain observer, see [`crate::engine::Engine::with_progress`]).
//!
//! Use: make one [`Progress`] per command with [`Progress::for_stderr`]; ask it for a
//! [`RunProgress`] per simulation (its [`RunProgress::observer`] goes to
//! [`crate::cli::simulate_observed`]) and/or a [`RunsProgress`] that counts finished runs; call
//! [`Progress::clear`] before printing results. When progress is off every handle is a no-op
//! and `observer()` is `None`, so the engine runs without any observer.

use indicatif::{HumanCount, MultiProgress, ProgressBar, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A simulation's bar against its horizon, while it runs and once done.
const BAR_RUNNING: &str =
    "{prefix:.bold} [{wide_bar:.cyan/blue}] {simtime} · {events} events · ETA {eta}";
const BAR_DONE: &str =
    "{prefix:.bold} [{wide_bar:.cyan/blue}] {simtime} · {events} events · done in {elapsed}";
/// A simulation's spinner when the trace decides the end.
const SPINNER_RUNNING: &str =
    "{prefix:.bold} {spinner} {simtime} simulated · {events} events · {elapsed}";
const SPINNER_DONE: &str =
    "{prefix:.bold} ✓ {simtime} simulated · {events} events · done in {elapsed}";

/// How often, in processed events, a simulation reports to its bar.
pub const EVERY_EVENTS: u64 = 1 << 12;

/// A command's progress display: bars on stderr, or nothing.
#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars only when `quiet` is off and stderr is a terminal.
    pub fn for_stderr(quiet: bool) -> Progress {
        if !quiet && std::io::stderr().is_terminal() {
            Progress {
                multi: Some(MultiProgress::new()),
            }
        } else {
            Progress::off()
        }
    }

    /// No display at all (every handle made from it is a no-op).
    pub fn off() -> Progress {
        Progress { multi: None }
    }

    /// Whether bars are shown.
    pub fn is_on(&self) -> bool {
        self.multi.is_some()
    }

    /// A bar for one simulation named `label` (pad labels to one width to align bars): simulated time against `horizon_ms` with an
    /// ETA, and the events processed; a spinner with the simulated time when the trace
    /// decides the end (`None`).
    pub fn run(&self, label: &str, horizon_ms: Option<u64>) -> RunProgress {
        let Some(m) = &self.multi else {
            return RunProgress {
                bar: None,
                events: Arc::default(),
            };
        };
        // The event count is read when the bar is drawn (rate-limited by indicatif), so an
        // observer call is two atomic stores and no formatting.
        let events: Arc<AtomicU64> = Arc::default();
        let counter = events.clone();
        let events_key = move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}", HumanCount(counter.load(Ordering::Relaxed)));
        };
        let bar = match horizon_ms {
            Some(h) => {
                let style = ProgressStyle::with_template(BAR_RUNNING)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .with_key("simtime", sim_time_key)
                    .with_key("events", events_key)
                    .progress_chars("=> ");
                ProgressBar::new(h.div_ceil(1000).max(1)).with_style(style)
            }
            None => {
                let style = ProgressStyle::with_template(SPINNER_RUNNING)
                    .unwrap_or_else(|_| ProgressStyle::default_spinner())
                    .with_key("simtime", sim_time_key)
                    .with_key("events", events_key);
                ProgressBar::no_length().with_style(style)
            }
        };
        let bar = m.add(bar.with_prefix(label.to_string()));
        RunProgress {
            bar: Some(bar),
            events,
        }
    }

    /// A bar counting finished runs out of `total`, with the rate and an ETA (sweeps).
    pub fn runs(&self, label: &str, total: u64) -> RunsProgress {
        let Some(m) = &self.multi else {
            return RunsProgress { bar: None };
        };
        let style = ProgressStyle::with_template(
            "{prefix:.bold} [{wide_bar:.green/blue}] {pos}/{len} runs · ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = m.add(
            ProgressBar::new(total)
                .with_style(style)
                .with_prefix(label.to_string()),
        );
        RunsProgress { bar: Some(bar) }
    }

    /// Removes every bar from the terminal (call before printing results).
    pub fn clear(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

/// `{simtime}`: the bar's position (simulated seconds) as a clock, against its length.
fn sim_time_key(s: &ProgressState, w: &mut dyn std::fmt::Write) {
    let pos = crate::explain::format_clock(s.pos() * 1000);
    let _ = match s.len() {
        Some(len) => write!(w, "{pos} / {}", crate::explain::format_clock(len * 1000)),
        None => write!(w, "{pos}"),
    };
}

/// The bar of one simulation (a no-op when progress is off).
pub struct RunProgress {
    bar: Option<ProgressBar>,
    events: Arc<AtomicU64>,
}

impl RunProgress {
    /// The engine observer that moves this bar: `None` when progress is off, so the engine
    /// runs with no observer at all.
    pub fn observer(&self) -> Option<impl FnMut(u64, u64) + Send + '_> {
        let counter = &self.events;
        self.bar.as_ref().map(|bar| {
            move |now_ms: u64, events: u64| {
                counter.store(events, Ordering::Relaxed);
                bar.set_position(now_ms / 1000);
            }
        })
    }

    /// Marks the simulation done (its bar stays until [`Progress::clear`]).
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            let done = if b.length().is_some() {
                BAR_DONE
            } else {
                SPINNER_DONE
            };
            if let Ok(style) = b.style().template(done) {
                b.set_style(style);
            }
            b.finish();
        }
    }
}

/// A count of finished runs (a no-op when progress is off). Cheap to share across rayon
/// workers: `&RunsProgress` is `Sync`.
pub struct RunsProgress {
    bar: Option<ProgressBar>,
}

impl RunsProgress {
    /// One more run finished.
    pub fn inc(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// A short note after the count (e.g. the run that just finished).
    pub fn note(&self, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_message(msg.to_string());
        }
    }

    /// Marks every run done.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_gives_no_observer_and_no_op_handles() {
        let p = Progress::off();
        assert!(!p.is_on());
        let r = p.run("x", Some(3_600_000));
        assert!(r.observer().is_none());
        r.finish();
        let n = p.runs("sweep", 4);
        n.inc();
        n.note("a");
        n.finish();
        p.clear();
    }

    #[test]
    fn for_stderr_quiet_is_off() {
        assert!(!Progress::for_stderr(true).is_on());
    }
}
