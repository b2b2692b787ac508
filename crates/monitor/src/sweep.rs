//! `--registry-sweep`: the whole registry, not only the projects the log touched. The Simple API
//! root (PEP 691 JSON `projects[].name`, or PEP 503 HTML, one anchor per project whose text is the
//! name) lists every project; each project page is then compared with what the log holds for it,
//! so a file swapped in a project nobody watches, and a project the log never held, are reported.
//!
//! Bounds: the root page is read against the same size cap as project pages and kept only as the
//! list of normalized names; one project page at a time per request slot, never all files; requests
//! are paced to a fixed rate ([`Pacer`]) so a sweep of a public index stays polite. A sweep runs on
//! its own interval and, in the continuous mode, in slices of at most one pass interval, resuming
//! where the last slice stopped, so tailing the log is never held up for long.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bintrail_pyindex::simple::{Format, read_project_list};
use bintrail_tlog::pypi::normalize_project_name;

use crate::registry::{RegistryClient, RegistryError};

/// How a sweep is run (the `--registry-sweep` and `--sweep-rate` flags).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepConfig {
    /// Time from the start of one sweep to the start of the next.
    pub interval: Duration,
    /// Registry requests per second, at most.
    pub requests_per_second: f64,
    /// The longest one pass spends sweeping before it hands back to tailing the log (the sweep
    /// resumes in the next pass); `None` finishes the sweep in one pass (`--once`).
    pub slice: Option<Duration>,
}

/// Where the current sweep stands, across passes.
#[derive(Debug, Default)]
pub struct SweepState {
    /// The projects of the current sweep, normalized and sorted; empty between sweeps.
    pub(crate) projects: Vec<String>,
    /// The next project to compare.
    pub(crate) next: usize,
    /// When the current (or last) sweep started.
    pub(crate) started: Option<Instant>,
}

impl SweepState {
    /// Whether a new sweep is due: none ran yet, or the last one finished and `interval` passed
    /// since it started. A sweep in progress is never due (it continues).
    pub(crate) fn due(&self, interval: Duration, now: Instant) -> bool {
        match self.started {
            None => true,
            Some(started) => {
                self.next >= self.projects.len() && now.duration_since(started) >= interval
            }
        }
    }

    /// Whether a sweep is in progress.
    pub(crate) fn in_progress(&self) -> bool {
        self.next < self.projects.len()
    }
}

/// Paces requests to a fixed rate, shared by concurrent requests: each waits for its slot.
#[derive(Clone, Debug)]
pub struct Pacer {
    gap: Duration,
    next: Arc<tokio::sync::Mutex<Instant>>,
}

impl Pacer {
    /// At most `per_second` requests per second (at least one per hour, at most 1,000 a second).
    pub fn new(per_second: f64) -> Pacer {
        let per_second = if per_second.is_finite() {
            per_second.clamp(1.0 / 3600.0, 1000.0)
        } else {
            1000.0
        };
        Pacer {
            gap: Duration::from_secs_f64(1.0 / per_second),
            next: Arc::new(tokio::sync::Mutex::new(Instant::now())),
        }
    }

    /// Waits until this request may be sent.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.gap;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

impl RegistryClient {
    /// Every project the index lists at its root, PEP 503 normalized, sorted and deduplicated.
    pub async fn project_list(&self) -> Result<Vec<String>, RegistryError> {
        let url = self.base.clone();
        let page = self
            .get_page(&url)
            .await?
            .ok_or_else(|| RegistryError::Status {
                url: url.clone(),
                status: 404,
            })?;
        let format = page
            .content_type
            .as_deref()
            .and_then(Format::from_content_type)
            .unwrap_or(Format::Html);
        let body = page.body;
        // The same reader `bintrail index` uses for the root (fuzzed as `project_list`).
        let list = read_project_list(&body, format).map_err(|e| RegistryError::BadRoot {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        drop(body);
        let names: Vec<String> = list.projects.into_iter().map(|p| p.name).collect();
        let mut names: Vec<String> = names
            .iter()
            .map(|n| normalize_project_name(n.trim()))
            .filter(|n| !n.is_empty())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_is_due_once_per_interval_and_continues_until_done() {
        let hour = Duration::from_secs(3600);
        let now = Instant::now();
        let mut state = SweepState::default();
        assert!(state.due(hour, now));
        state.projects = vec!["a".into(), "b".into()];
        state.started = Some(now);
        assert!(!state.due(Duration::ZERO, now), "in progress: continues");
        state.next = 2;
        assert!(!state.due(hour, now + Duration::from_secs(60)));
        assert!(state.due(hour, now + hour));
    }

    #[tokio::test]
    async fn the_pacer_spaces_requests() {
        let pacer = Pacer::new(20.0);
        let started = Instant::now();
        for _ in 0..5 {
            pacer.wait().await;
        }
        // Five requests at 20/s: the last waits four gaps of 50 ms.
        assert!(started.elapsed() >= Duration::from_millis(195));
    }
}
