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
//!
//! A sweep of a large index takes hours, so its place survives a restart: after each slice the
//! state directory's [`SWEEP_FILE`] records when the sweep started and the last project compared.
//! A restarted monitor fetches the project list again and resumes after that name (the list is
//! sorted, so projects added meanwhile before it wait for the next sweep); a finished sweep's start
//! keeps the interval between sweeps across restarts. The file is only a convenience: missing or
//! unreadable, the monitor starts a new sweep and says so.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// The file in the monitor's state directory that keeps the sweep's place across restarts.
pub const SWEEP_FILE: &str = "registry-sweep.json";

/// What [`SWEEP_FILE`] holds.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedSweep {
    /// When the sweep started, in seconds since the Unix epoch.
    started_unix: u64,
    /// Whether it was still going.
    in_progress: bool,
    /// The last project it compared ("" when none yet, or when finished).
    after: String,
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
    /// The same, by the wall clock (what [`SWEEP_FILE`] keeps).
    pub(crate) started_wall: Option<SystemTime>,
    /// A sweep interrupted by a restart, to resume after this project.
    pub(crate) resume_after: Option<String>,
}

impl SweepState {
    /// The sweep's place as saved in `state_dir` ([`SWEEP_FILE`]), or a fresh state when there is
    /// none or it cannot be read (logged: a new sweep then starts).
    pub(crate) fn load(state_dir: &Path) -> SweepState {
        let path = state_dir.join(SWEEP_FILE);
        let saved: SavedSweep = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return SweepState::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the registry sweep's place; starting a new sweep");
                return SweepState::default();
            }
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(saved) => saved,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "the registry sweep's saved place is not valid; starting a new sweep");
                    return SweepState::default();
                }
            },
        };
        let wall = UNIX_EPOCH + Duration::from_secs(saved.started_unix);
        // A start in the future (a clock set back) counts as now.
        let ago = SystemTime::now().duration_since(wall).unwrap_or_default();
        SweepState {
            started: Some(Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)),
            started_wall: Some(wall),
            resume_after: saved.in_progress.then_some(saved.after),
            ..SweepState::default()
        }
    }

    /// Saves the sweep's place in `state_dir` (written aside, then renamed over [`SWEEP_FILE`]).
    pub(crate) fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        let Some(wall) = self.started_wall else {
            return Ok(());
        };
        let in_progress = self.in_progress();
        let after = match self.next.checked_sub(1) {
            Some(last) if in_progress => self.projects[last].clone(),
            _ => String::new(),
        };
        let saved = SavedSweep {
            started_unix: wall
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            in_progress,
            after,
        };
        let path = state_dir.join(SWEEP_FILE);
        let aside = state_dir.join(format!("{SWEEP_FILE}.new"));
        std::fs::write(
            &aside,
            serde_json::to_vec(&saved).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&aside, &path)
    }

    /// Where a new sweep over `projects` (sorted) starts: after the saved place of an interrupted
    /// sweep (taken), else at the first project.
    pub(crate) fn resume_point(&mut self, projects: &[String]) -> Option<usize> {
        let after = self.resume_after.take()?;
        Some(projects.partition_point(|p| p.as_str() <= after.as_str()))
    }

    /// Whether a new sweep is due: none ran yet, one was interrupted by a restart, or the last one
    /// finished and `interval` passed since it started. A sweep in progress is never due (it
    /// continues).
    pub(crate) fn due(&self, interval: Duration, now: Instant) -> bool {
        if self.resume_after.is_some() {
            return true;
        }
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
        let list = read_project_list(&body, format).map_err(|source| RegistryError::BadRoot {
            url: url.clone(),
            source,
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
    fn an_interrupted_sweep_resumes_after_the_last_project_compared() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing saved: a new sweep is due.
        let fresh = SweepState::load(dir.path());
        assert!(fresh.due(Duration::from_secs(3600), Instant::now()));

        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut state = SweepState {
            projects: names(&["alpha", "beta", "gamma", "zeta"]),
            next: 2,
            started: Some(Instant::now()),
            started_wall: Some(SystemTime::now() - Duration::from_secs(120)),
            resume_after: None,
        };
        state.save(dir.path()).unwrap();
        let mut loaded = SweepState::load(dir.path());
        assert_eq!(loaded.resume_after.as_deref(), Some("beta"));
        assert!(loaded.due(Duration::from_secs(3600), Instant::now()));
        let ago = loaded.started.unwrap().elapsed();
        assert!(ago >= Duration::from_secs(119), "{ago:?}");
        // The list changed meanwhile: a new project before the place waits for the next sweep,
        // and the one after it is compared.
        let now = names(&["aardvark", "alpha", "beta", "delta", "gamma", "zeta"]);
        assert_eq!(loaded.resume_point(&now), Some(3));
        assert_eq!(loaded.resume_point(&now), None, "taken once");

        // Finished: nothing to resume, and the next sweep waits for the interval.
        state.next = 4;
        state.save(dir.path()).unwrap();
        let loaded = SweepState::load(dir.path());
        assert_eq!(loaded.resume_after, None);
        assert!(!loaded.due(Duration::from_secs(3600), Instant::now()));
        assert!(loaded.due(Duration::from_secs(60), Instant::now()));

        // An unreadable file: a new sweep.
        std::fs::write(dir.path().join(SWEEP_FILE), b"{not json").unwrap();
        let loaded = SweepState::load(dir.path());
        assert!(loaded.started.is_none() && loaded.resume_after.is_none());
    }

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
