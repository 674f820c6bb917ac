//! The state of one sync run, folded from events one at a time (nextest's dispatcher): what
//! planning decided, what each batch did, what validation found, what stopped the run.
//!
//! Pure: the driver (`sync::run_with`) does the I/O and hands over what happened; the exit
//! code ([`exit_code`]) and the report (`Report::from_run`) are read off the state, so every
//! rule is unit-tested without processes.

use crate::exit_codes;
use crate::list::ListError;
use crate::os::resources::Window;
use crate::plan::batch::Batch;
use crate::report::sla::Status;
use crate::report::{BatchReport, MAX_FAILURES_LISTED, RunFailure};
use crate::run::execute::BatchOutcome;
use crate::run::governor::Decision;
use crate::run::outcome::{Counters, Failure};

use super::planner::{PlanError, PlanStats};
use crate::list::multi::ListCounts;

/// A batch that finished, with what was seen around it.
#[derive(Debug)]
pub struct BatchDone<'a> {
    pub batch: &'a Batch,
    pub outcome: BatchOutcome,
    /// Resource peaks while it ran.
    pub window: Window,
    /// The governor's decision for the next batch, and whether it governs (adaptive).
    pub decision: Decision,
    pub governed: bool,
}

/// One thing that happened to the run.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// Planning ended: what it decided (so far, if it stopped early), and why it stopped.
    Planned {
        stats: PlanStats,
        error: Option<PlanError>,
    },
    BatchFinished(BatchDone<'a>),
    /// The validation listing compared every copied object: `ok` in place, `bad` not.
    Validated {
        ok: u64,
        bad: Vec<Failure>,
    },
    /// The validation listing itself failed.
    ValidationFailed(ListError),
    /// s5cmd processes started outside batches (listings).
    Listings(u64),
    /// What the validation listing cost.
    ValidationListed(ListCounts),
    /// Wall time during which at least one batch was copying (one busy stretch).
    Copying(std::time::Duration),
    /// A signal arrived, or a batch saw s5cmd interrupted.
    Interrupted,
    /// Something outside the objects stopped the run (the first such failure is kept).
    Stopped(RunFailure),
}

/// What the validation listings found of the copies, and what they cost.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Whether a validation listing compared any copies.
    pub ran: bool,
    /// Copies the listings showed in place.
    pub ok: u64,
    /// Copies the listings did not show as copied (also in `RunState::failed`).
    pub bad: u64,
    /// The listings' requests, keys and processes.
    pub list: ListCounts,
}

/// Everything the report and the exit code are made from.
#[derive(Debug, Clone, Default)]
pub struct RunState {
    pub plan: PlanStats,
    /// Planning has reported (its stats are final, even if partial).
    pub planning_done: bool,
    pub counts: Counters,
    pub copied: u64,
    pub bytes_copied: u64,
    pub failed: u64,
    /// What the validation listings found.
    pub validation: Validation,
    /// Sum of batch wall times.
    pub copy_seconds: f64,
    /// Wall seconds with at least one batch copying (batches overlap: not their sum).
    pub copy_wall_seconds: f64,
    /// Listing processes (planning and validation).
    pub listings: u64,
    pub batches: Vec<BatchReport>,
    pub failures: Vec<Failure>,
    pub failures_omitted: u64,
    pub error: Option<RunFailure>,
    pub interrupted: bool,
}

impl RunState {
    pub fn handle(&mut self, event: RunEvent<'_>) {
        match event {
            RunEvent::Planned { stats, error } => {
                self.plan = stats;
                self.planning_done = true;
                match error {
                    Some(
                        PlanError::List(ListError::Interrupted { .. })
                        | PlanError::Discover(crate::list::multi::GroupListError::List(
                            ListError::Interrupted { .. },
                        )),
                    ) => self.interrupted = true,
                    // The listing's failure is the cause of whatever else went wrong.
                    Some(e) => {
                        self.error = Some(RunFailure {
                            hint: e.hint(),
                            message: e.to_string(),
                        })
                    }
                    None => {}
                }
            }
            RunEvent::BatchFinished(done) => self.batch_finished(done),
            RunEvent::Validated { ok, bad } => {
                self.validation.ran = true;
                self.validation.ok += ok;
                self.validation.bad += bad.len() as u64;
                self.failed += bad.len() as u64;
                for f in bad {
                    self.record_failure(f);
                }
            }
            RunEvent::ValidationFailed(e) => {
                self.error = Some(RunFailure {
                    message: format!("validation: {e}"),
                    hint: e.hint().to_string(),
                });
            }
            RunEvent::Listings(n) => self.listings += n,
            RunEvent::ValidationListed(c) => self.validation.list += c,
            RunEvent::Copying(d) => self.copy_wall_seconds += d.as_secs_f64(),
            RunEvent::Interrupted => self.interrupted = true,
            RunEvent::Stopped(f) => {
                self.error.get_or_insert(f);
            }
        }
    }

    fn batch_finished(&mut self, d: BatchDone<'_>) {
        let out = d.outcome;
        let bytes: u64 = out
            .copied
            .iter()
            .map(|&i| d.batch.items[i].object.size)
            .sum();
        self.copy_seconds += out.seconds;
        self.counts += out.counts;
        self.copied += out.copied.len() as u64;
        self.bytes_copied += bytes;
        self.failed += out.failures.len() as u64;
        self.batches.push(BatchReport {
            index: out.index,
            files: out.files,
            copied: out.copied.len(),
            failed: out.failures.len(),
            bytes,
            attempts: out.counts.attempts,
            seconds: (out.seconds * 1000.0).round() / 1000.0,
            workers: out.workers,
            rss_peak_bytes: d.window.rss_peak_bytes,
            cpu_avg_pct: d.window.cpu_avg_pct,
            cpu_peak_pct: d.window.cpu_peak_pct,
            next_workers: d.decision.workers,
            governor: d.governed.then_some(d.decision.reason),
            folders: d.batch.folders.len(),
        });
        for f in out.failures {
            self.record_failure(f);
        }
        // Batches already running see the interruption themselves; their results count.
        self.interrupted |= out.counts.interrupted;
    }

    fn record_failure(&mut self, f: Failure) {
        if self.failures.len() < MAX_FAILURES_LISTED {
            self.failures.push(f);
        } else {
            self.failures_omitted += 1;
        }
    }

    /// Objects with an outcome so far (for progress).
    pub fn done(&self) -> u64 {
        self.copied + self.failed
    }

    /// `direct`, `staged` or `mixed` (an auto run where some objects went staged).
    pub fn mode(&self, staged_only: bool) -> &'static str {
        match (
            staged_only,
            self.counts.direct_files > 0,
            self.counts.staged_files > 0,
        ) {
            (true, _, _) => "staged",
            (_, true, true) => "mixed",
            (_, false, true) => "staged",
            _ => "direct",
        }
    }

    /// What an interrupted run leaves unknown, for the report's `error`: how far the
    /// listing got, and which planned objects have no outcome.
    pub fn interruption(&self, signal: Option<i32>) -> Option<RunFailure> {
        if !self.interrupted {
            return None;
        }
        let by = match signal {
            Some(2) => "SIGINT".to_string(),
            Some(15) | None => "SIGTERM".to_string(),
            Some(n) => format!("signal {n}"),
        };
        let p = &self.plan;
        let listing = if p.complete {
            format!("after the listing ({} objects selected)", p.selected)
        } else {
            format!(
                "during the listing: {} objects selected so far; objects the listing had not \
                 reached are unknown",
                p.selected
            )
        };
        let not_attempted = p.planned.saturating_sub(self.done());
        // Validation overlaps the copying: part of the copies may have been checked.
        let unchecked = self
            .copied
            .saturating_sub(self.validation.ok + self.validation.bad);
        let validated = match (unchecked, self.validation.ran) {
            (0, _) => String::new(),
            (_, false) => "; the copies were not validated".to_string(),
            (n, true) => format!("; {n} of the copies were not validated"),
        };
        Some(RunFailure {
            message: format!(
                "interrupted by {by} {listing}; of {} planned: {} copied, {} failed or cut off, \
                 {not_attempted} not attempted{validated}",
                p.planned, self.copied, self.failed
            ),
            hint: "run the same command again: what is in place is skipped, the rest is copied"
                .into(),
        })
    }
}

/// What decides the exit code besides the run state.
#[derive(Debug, Clone, Copy)]
pub struct ExitRules {
    /// The signal that interrupted the run.
    pub signal: Option<i32>,
    pub dry_run: bool,
    /// `--fail-on`: an SLA status at or above it is exit 4.
    pub fail_on: Option<Status>,
    /// The run's worst SLA status.
    pub sla_status: Status,
    /// `--exit-code-when-nothing-to-do`.
    pub nothing_to_do: Option<i32>,
}

/// The documented exit code of a run, most serious cause first.
pub fn exit_code(state: &RunState, rules: &ExitRules) -> i32 {
    if let Some(sig) = rules.signal {
        return 128 + sig;
    }
    if state.interrupted {
        return exit_codes::INTERRUPTED_SIGTERM;
    }
    if state.error.is_some() {
        return exit_codes::ENVIRONMENT;
    }
    if state.failed > 0 || (!rules.dry_run && state.validation.ok < state.copied) {
        return exit_codes::OBJECTS_FAILED;
    }
    if !rules.dry_run && rules.fail_on.is_some_and(|level| rules.sla_status >= level) {
        return exit_codes::SLA_BREACH;
    }
    match rules.nothing_to_do {
        Some(code) if state.plan.planned == 0 => code,
        _ => exit_codes::OK,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::list::Object;
    use crate::plan::Reason as PlanReason;
    use crate::plan::batch::Item;
    use crate::run::governor::Reason;
    use crate::s5cmd::ErrorClass;

    pub(crate) fn batch(index: usize, sizes: &[u64]) -> Batch {
        Batch {
            index,
            items: sizes
                .iter()
                .enumerate()
                .map(|(i, &size)| Item {
                    object: Object {
                        key: format!("k{index}-{i}"),
                        size,
                        etag: None,
                        last_modified: None,
                    },
                    reason: PlanReason::Missing,
                })
                .collect(),
            folders: Vec::new(),
        }
    }

    pub(crate) fn failure(key: &str) -> Failure {
        Failure {
            key: key.into(),
            source: key.into(),
            error: "x".into(),
            class: ErrorClass::Transient,
            attempts: 1,
        }
    }

    /// A batch of `sizes` whose items `copied` are in place and the rest failed.
    pub(crate) fn finished<'a>(b: &'a Batch, copied: &[usize], counts: Counters) -> RunEvent<'a> {
        let failures = (0..b.items.len())
            .filter(|i| !copied.contains(i))
            .map(|i| failure(&b.items[i].object.key))
            .collect();
        RunEvent::BatchFinished(BatchDone {
            batch: b,
            outcome: BatchOutcome {
                index: b.index,
                files: b.items.len(),
                copied: copied.to_vec(),
                failures,
                seconds: 1.5,
                workers: 8,
                epoch: 0,
                unparsed: Vec::new(),
                counts,
                spread: Default::default(),
            },
            window: Window::default(),
            decision: Decision {
                workers: 16,
                reason: Reason::Probe,
            },
            governed: true,
        })
    }

    fn planned(planned: u64, complete: bool) -> RunEvent<'static> {
        RunEvent::Planned {
            stats: PlanStats {
                selected: planned + 1,
                planned,
                skipped: 1,
                complete,
                ..Default::default()
            },
            error: None,
        }
    }

    fn rules() -> ExitRules {
        ExitRules {
            signal: None,
            dry_run: false,
            fail_on: None,
            sla_status: Status::Ok,
            nothing_to_do: None,
        }
    }

    /// Two objects planned, both copied and validated.
    fn clean_run() -> RunState {
        let b = batch(0, &[10, 20]);
        let mut s = RunState::default();
        s.handle(finished(&b, &[0, 1], Counters::default()));
        s.handle(planned(2, true));
        s.handle(RunEvent::Validated {
            ok: 2,
            bad: Vec::new(),
        });
        s
    }

    #[test]
    fn batches_fold_into_totals() {
        let (b0, b1) = (batch(0, &[10, 20, 30]), batch(1, &[5]));
        let mut s = RunState::default();
        let c = Counters {
            retried: 2,
            processes: 1,
            attempts: 2,
            direct_files: 2,
            ..Default::default()
        };
        s.handle(finished(&b0, &[0, 2], c));
        s.handle(finished(&b1, &[0], c));
        assert_eq!((s.copied, s.failed, s.bytes_copied), (3, 1, 45));
        assert_eq!((s.counts.retried, s.counts.processes), (4, 2));
        assert_eq!(s.copy_seconds, 3.0);
        assert_eq!(s.failures.len(), 1);
        let r = &s.batches[0];
        assert_eq!(
            (r.index, r.files, r.copied, r.failed, r.bytes),
            (0, 3, 2, 1, 40)
        );
        assert_eq!((r.attempts, r.workers, r.next_workers), (2, 8, 16));
        assert_eq!(r.governor, Some(Reason::Probe));
        assert!(!s.interrupted);
        assert_eq!(s.mode(false), "direct");
    }

    #[test]
    fn failures_beyond_the_listed_maximum_are_counted() {
        let mut s = RunState::default();
        let bad = (0..MAX_FAILURES_LISTED + 3)
            .map(|i| failure(&i.to_string()))
            .collect();
        s.handle(RunEvent::Validated { ok: 0, bad });
        assert_eq!(s.failures.len(), MAX_FAILURES_LISTED);
        assert_eq!(s.failures_omitted, 3);
        assert_eq!(s.failed, MAX_FAILURES_LISTED as u64 + 3);
    }

    #[test]
    fn the_first_stop_is_kept_but_a_listing_failure_wins() {
        let mut s = RunState::default();
        let stop = |m: &str| {
            RunEvent::Stopped(RunFailure {
                message: m.into(),
                hint: "h".into(),
            })
        };
        s.handle(stop("first"));
        s.handle(stop("second"));
        assert_eq!(s.error.as_ref().unwrap().message, "first");
        s.handle(RunEvent::Planned {
            stats: PlanStats::default(),
            error: Some(PlanError::List(ListError::Failed {
                url: "s3://dst/".into(),
                error: "AccessDenied".into(),
            })),
        });
        let e = s.error.as_ref().unwrap();
        assert!(e.message.contains("s3://dst/"), "{e:?}");
        assert!(e.hint.contains("credentials"), "{e:?}");
    }

    #[test]
    fn mode_names_where_objects_went() {
        let mut s = RunState::default();
        assert_eq!(s.mode(true), "staged");
        s.counts.staged_files = 1;
        assert_eq!(s.mode(false), "staged");
        s.counts.direct_files = 1;
        assert_eq!(s.mode(false), "mixed");
        assert_eq!(s.mode(true), "staged");
    }

    #[test]
    fn exit_0_when_everything_planned_is_validated() {
        assert_eq!(exit_code(&clean_run(), &rules()), exit_codes::OK);
    }

    #[test]
    fn exit_1_when_an_object_failed_or_was_not_validated() {
        let b = batch(0, &[10, 20]);
        let mut s = RunState::default();
        s.handle(finished(&b, &[0], Counters::default()));
        s.handle(RunEvent::Validated {
            ok: 1,
            bad: Vec::new(),
        });
        assert_eq!(exit_code(&s, &rules()), exit_codes::OBJECTS_FAILED);

        let mut s = clean_run();
        s.validation.ok = 1;
        assert_eq!(exit_code(&s, &rules()), exit_codes::OBJECTS_FAILED);
        // A dry run copies nothing, so there is nothing to validate.
        let dry = ExitRules {
            dry_run: true,
            ..rules()
        };
        assert_eq!(exit_code(&s, &dry), exit_codes::OK);
    }

    #[test]
    fn exit_3_when_the_environment_stopped_the_run() {
        let mut s = clean_run();
        s.handle(RunEvent::ValidationFailed(ListError::Failed {
            url: "s3://dst/".into(),
            error: "timed out".into(),
        }));
        assert_eq!(exit_code(&s, &rules()), exit_codes::ENVIRONMENT);
        assert!(s.error.unwrap().message.starts_with("validation: "));
    }

    #[test]
    fn exit_4_only_for_an_sla_breach_at_the_fail_on_level_of_a_clean_run() {
        let s = clean_run();
        let at = |sla_status, fail_on| ExitRules {
            sla_status,
            fail_on,
            ..rules()
        };
        let warning = Some(Status::Warning);
        assert_eq!(exit_code(&s, &at(Status::Warning, warning)), 4);
        assert_eq!(exit_code(&s, &at(Status::Critical, warning)), 4);
        assert_eq!(
            exit_code(&s, &at(Status::Warning, Some(Status::Critical))),
            0
        );
        assert_eq!(exit_code(&s, &at(Status::Critical, None)), 0);
        // Failed objects are the more serious news.
        let mut failed = clean_run();
        failed.failed = 1;
        assert_eq!(exit_code(&failed, &at(Status::Critical, warning)), 1);
        // A dry run has no SLA.
        let dry = ExitRules {
            dry_run: true,
            ..at(Status::Critical, warning)
        };
        assert_eq!(exit_code(&s, &dry), 0);
    }

    #[test]
    fn exit_code_when_nothing_to_do_applies_only_to_an_empty_clean_plan() {
        let nothing = ExitRules {
            nothing_to_do: Some(99),
            ..rules()
        };
        let mut empty = RunState::default();
        empty.handle(planned(0, true));
        assert_eq!(exit_code(&empty, &nothing), 99);
        assert_eq!(exit_code(&clean_run(), &nothing), 0);
        let breach = ExitRules {
            sla_status: Status::Critical,
            fail_on: Some(Status::Warning),
            ..nothing
        };
        assert_eq!(exit_code(&empty, &breach), 4);
        empty.handle(RunEvent::Interrupted);
        assert_eq!(exit_code(&empty, &nothing), 143);
    }

    #[test]
    fn exit_128_plus_the_signal_above_everything() {
        let mut s = clean_run();
        s.failed = 3;
        s.error = Some(RunFailure {
            message: "m".into(),
            hint: "h".into(),
        });
        let sig = |n| ExitRules {
            signal: Some(n),
            ..rules()
        };
        assert_eq!(exit_code(&s, &sig(2)), 130);
        assert_eq!(exit_code(&s, &sig(15)), 143);
        // Interrupted without a signal of ours (s5cmd saw one): SIGTERM's code.
        s.handle(RunEvent::Interrupted);
        assert_eq!(exit_code(&s, &rules()), exit_codes::INTERRUPTED_SIGTERM);
        let mut listing = RunState::default();
        listing.handle(RunEvent::Planned {
            stats: PlanStats::default(),
            error: Some(PlanError::List(ListError::Interrupted {
                url: "s3://src/".into(),
            })),
        });
        assert!(listing.interrupted && listing.error.is_none());
        assert_eq!(exit_code(&listing, &rules()), 143);
    }

    #[test]
    fn an_interruption_says_what_was_listed_planned_copied_and_unknown() {
        let b = batch(0, &[10, 20, 30]);
        let mut s = RunState::default();
        let cut = Counters {
            interrupted: true,
            ..Default::default()
        };
        s.handle(finished(&b, &[0, 1], cut));
        assert!(s.interrupted);
        s.handle(RunEvent::Planned {
            stats: PlanStats {
                selected: 12,
                planned: 10,
                skipped: 2,
                complete: false,
                ..Default::default()
            },
            error: Some(PlanError::List(ListError::Interrupted {
                url: "s3://src/".into(),
            })),
        });
        let f = s.interruption(Some(15)).unwrap();
        assert_eq!(
            f.message,
            "interrupted by SIGTERM during the listing: 12 objects selected so far; objects the \
             listing had not reached are unknown; of 10 planned: 2 copied, 1 failed or cut off, \
             7 not attempted; the copies were not validated"
        );
        assert!(f.hint.contains("run the same command again"));
        s.plan.complete = true;
        let f = s.interruption(Some(2)).unwrap();
        assert!(
            f.message
                .starts_with("interrupted by SIGINT after the listing (12 objects selected)"),
            "{}",
            f.message
        );
        assert!(clean_run().interruption(Some(15)).is_none());
        // Validation overlaps the copying: one of the two copies was checked before the
        // signal, and the message counts the other.
        s.handle(RunEvent::Validated {
            ok: 1,
            bad: Vec::new(),
        });
        let f = s.interruption(Some(15)).unwrap();
        assert!(
            f.message.ends_with("; 1 of the copies were not validated"),
            "{}",
            f.message
        );
        s.handle(RunEvent::Validated {
            ok: 1,
            bad: Vec::new(),
        });
        assert!(
            s.interruption(Some(15))
                .unwrap()
                .message
                .ends_with("7 not attempted")
        );
    }
}
