//! The registry comparisons of a pass: the projects of the new entries and the watched projects
//! (`--registry`), and the sweep of every project the registry lists (`--registry-sweep`).

use std::collections::BTreeSet;
use std::time::{Instant, SystemTime};

use bintrail_tlog::checkpoint::Checkpoint;
use futures::StreamExt;

use super::Monitor;
use super::entries::{checkpoint_ref, hex_digest};
use super::report::{Emitter, MonitorError};
use crate::finding::{CheckpointRef, Finding, FindingKind};
use crate::index::IdentifierIndex;
use crate::registry::{self, Mismatch};
use crate::sweep::SweepState;

/// Project pages requested at once from the registry: polite to a public index, enough to hide latency.
const REGISTRY_CONCURRENCY: usize = 8;

impl Monitor {
    /// Compares the touched projects and the watched projects with the registry.
    pub(super) async fn compare_registry(
        &mut self,
        checkpoint: &Checkpoint,
        index_path: &std::path::Path,
        mut projects: BTreeSet<String>,
        out: &mut Emitter<'_>,
    ) -> Result<(), MonitorError> {
        let Some(registry) = self.registry.clone() else {
            return Ok(());
        };
        let index = IdentifierIndex::open(index_path, &checkpoint.origin)?;
        if !self.cfg.watch.is_empty() {
            let watch = &self.cfg.watch;
            projects.extend(index.projects_where(|p| watch.iter().any(|r| r.is_match(p)))?);
        }
        let cp_ref = checkpoint_ref(checkpoint);
        let mut pages = futures::stream::iter(projects)
            .map(|p| {
                let registry = registry.clone();
                async move { (registry.project_files(&p).await, p) }
            })
            .buffered(REGISTRY_CONCURRENCY);
        while let Some((served, project)) = pages.next().await {
            out.report.projects_compared += 1;
            let served = served?.unwrap_or_default();
            let logged = index.project_files(&project)?;
            for m in registry::compare(&logged, &served) {
                if let Some(f) = self.mismatch_finding(m, &cp_ref) {
                    out.emit(f).await;
                }
            }
        }
        Ok(())
    }

    fn mismatch_finding(&mut self, m: Mismatch, cp_ref: &CheckpointRef) -> Option<Finding> {
        let (key, finding) = match m {
            Mismatch::DigestDiffers { logged, served } => (
                (logged.filename.clone(), served),
                Finding::new(
                    FindingKind::RegistryMismatch,
                    "the registry serves this file with another digest than the log holds",
                )
                .with_identifier(logged.filename.clone())
                .with_digests(vec![hex_digest(&logged.digest), hex_digest(&served)])
                .with_indices(vec![logged.index]),
            ),
            Mismatch::NotLogged { served } => {
                let digests = served.sha256.iter().map(hex_digest).collect();
                (
                    (served.filename.clone(), served.sha256.unwrap_or_default()),
                    Finding::new(
                        FindingKind::RegistryMismatch,
                        "the registry serves this file but the log does not hold it",
                    )
                    .with_identifier(served.filename)
                    .with_digests(digests),
                )
            }
        };
        self.reported
            .insert(key)
            .then(|| finding.with_checkpoint(cp_ref.clone()))
    }

    /// The registry sweep (`--registry-sweep`): when one is due, lists every project at the
    /// registry's root; then compares project after project with the log, resuming where the last
    /// pass stopped, for at most the configured slice. A registry error stops the slice (the pass is
    /// incomplete) and the next pass retries the same project.
    pub(super) async fn sweep_registry(
        &mut self,
        checkpoint: &Checkpoint,
        index_path: &std::path::Path,
        out: &mut Emitter<'_>,
    ) -> Result<(), MonitorError> {
        let (Some(registry), Some(cfg), Some(pacer)) = (
            self.registry.clone(),
            self.cfg.registry_sweep,
            self.pacer.clone(),
        ) else {
            return Ok(());
        };
        let now = Instant::now();
        if !self.sweep.in_progress() {
            if !self.sweep.due(cfg.interval, now) {
                return Ok(());
            }
            pacer.wait().await;
            let projects = registry.project_list().await?;
            let resumed = self.sweep.resume_point(&projects);
            let (next, started, started_wall) = match resumed {
                Some(next) => {
                    tracing::info!(
                        projects = projects.len(),
                        next,
                        "registry sweep resumed where it stopped before the restart"
                    );
                    (next, self.sweep.started, self.sweep.started_wall)
                }
                None => {
                    tracing::info!(projects = projects.len(), "registry sweep started");
                    (0, Some(now), Some(SystemTime::now()))
                }
            };
            self.sweep = SweepState {
                projects,
                next,
                started,
                started_wall,
                resume_after: None,
            };
        }
        let index = IdentifierIndex::open(index_path, &checkpoint.origin)?;
        let cp_ref = checkpoint_ref(checkpoint);
        let deadline = cfg.slice.map(|s| now + s);
        // The names are moved out while the pages stream, and back whatever happens.
        let projects = std::mem::take(&mut self.sweep.projects);
        let start = self.sweep.next;
        let result = {
            let mut pages = futures::stream::iter(projects[start..].iter().cloned())
                .map(|project| {
                    let (registry, pacer) = (registry.clone(), pacer.clone());
                    async move {
                        pacer.wait().await;
                        (registry.project_files(&project).await, project)
                    }
                })
                .buffered(REGISTRY_CONCURRENCY);
            let mut result = Ok(());
            while let Some((served, project)) = pages.next().await {
                let served = match served {
                    Ok(served) => served.unwrap_or_default(),
                    Err(e) => {
                        result = Err(MonitorError::Registry(e));
                        break;
                    }
                };
                out.report.projects_compared += 1;
                out.report.projects_swept += 1;
                self.sweep.next += 1;
                let logged = match index.project_files(&project) {
                    Ok(logged) => logged,
                    Err(e) => {
                        result = Err(e.into());
                        break;
                    }
                };
                for m in registry::compare(&logged, &served) {
                    if let Some(f) = self.mismatch_finding(m, &cp_ref) {
                        out.emit(f).await;
                    }
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
            }
            result
        };
        self.sweep.projects = projects;
        let finished = (!self.sweep.in_progress()).then_some(self.sweep.projects.len());
        if finished.is_some() {
            // Only the list's length is needed from now on (to know the sweep is done).
            self.sweep.next = 0;
            self.sweep.projects = Vec::new();
        }
        if let Err(e) = self.sweep.save(&self.cfg.state_dir) {
            tracing::warn!(error = %e, "cannot save the registry sweep's place; a restart starts it again");
        }
        // Said after the place is saved, so that whoever reads the line (an operator, a
        // test) finds the sweep recorded as done.
        if let Some(projects) = finished {
            tracing::info!(projects, "registry sweep finished");
        }
        result
    }
}
