//! The sync report, read off the run state: pure, so every field and the exit code are
//! unit-tested without processes.

use crate::os::resources::ResourceSummary;
use crate::report::sla::{Mode as SlaMode, SlaInputs};
use crate::report::sla_history::RunFigures;
use crate::report::{
    FORMAT_VERSION, Integrity, ListingReport, Operations, PlanSummary, Report, ReportSettings,
    RunHeader, Throughput, Timing, Tool, Totals,
};
use crate::run::execute::Strategy;
use crate::run::governor::Limits;
use crate::settings::Settings;

use super::state::{ExitRules, RunState, exit_code};

/// What the report needs besides the run state: the settings and what was measured around
/// the run.
#[derive(Debug, Clone)]
pub struct RunContext<'a> {
    pub settings: &'a Settings,
    pub limits: Limits,
    pub tool: Tool,
    pub endpoint_url: Option<String>,
    pub timing: Timing,
    pub resources: Option<ResourceSummary>,
    pub sampler_overhead_ms: Option<f64>,
    pub lakesync_cpu_seconds: f64,
    /// The signal that interrupted the run.
    pub signal: Option<i32>,
    /// Incomplete multipart uploads aborted (this run's and dead runs').
    pub multipart_uploads_aborted: u64,
    /// With `--history`: the earlier runs of this job ([`job_of`]), for SLAs over history.
    pub history: Option<Vec<RunFigures>>,
    /// The run's throttled prefixes (`run::throttle`).
    pub throttling: crate::run::throttle::Throttling,
}

/// The job a run belongs to, for SLAs over history: the same source, destination,
/// selection, shard and configured mode.
pub fn job_of(settings: &Settings) -> String {
    let mode = match settings.strategy {
        Strategy::Direct => "direct",
        Strategy::Staged => "staged",
        Strategy::DirectWithFallback => "auto",
    };
    crate::report::sla_history::job_key(
        &settings.source.to_string(),
        &settings.dest.to_string(),
        settings.selection.as_ref().map(|s| s.describe()).as_deref(),
        settings.shard.map(|s| s.to_string()).as_deref(),
        mode,
    )
}

/// This run as SLAs over history see it (copied = validated).
fn run_figures(report: &Report) -> Option<RunFigures> {
    let at: jiff::Timestamp = report.timing.finished_at.parse().ok()?;
    let t = &report.totals;
    Some(RunFigures {
        finished_unix: at.as_second(),
        planned: t.planned,
        copied: t.validated.min(t.copied),
        duration_seconds: report.timing.duration_seconds,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Report {
    /// The report of a finished (or stopped) sync run, its exit code included.
    pub fn from_run(state: &RunState, ctx: &RunContext<'_>) -> Report {
        let settings = ctx.settings;
        let c = &state.counts;
        let p = &state.plan;
        let prefixes = p.prefixes;
        let totals = Totals {
            selected: p.selected,
            planned: p.planned,
            skipped: p.skipped,
            copied: state.copied,
            failed: state.failed,
            validated: state.validation.ok,
            bytes_planned: p.bytes_planned,
            bytes_skipped: p.bytes_skipped,
            bytes_copied: state.bytes_copied,
            batches: p.batches.max(state.batches.len() as u64),
            retried: c.retried,
            throttled: c.throttled,
            fallback: c.fallback,
        };
        let operations = Operations {
            by_kind: c.ops,
            // Batch processes, the validation listings, discovery and each side's planning
            // listings.
            s5cmd_processes: c.processes
                + state.listings
                + p.discovery.processes
                + p.source_list.processes
                + p.dest_list.processes,
            local_bytes_written: c.local_bytes_written,
            unparsed_lines: c.unparsed,
            unplanned_copies: c.unplanned,
            multipart_uploads_aborted: ctx.multipart_uploads_aborted,
            ..Default::default()
        };
        let mut report = Report {
            format_version: FORMAT_VERSION,
            tool: ctx.tool.clone(),
            command: "sync",
            mode: state.mode(settings.strategy == Strategy::Staged),
            run: RunHeader {
                dry_run: settings.output.dry_run,
                interrupted: state.interrupted,
                source: settings.source.to_string(),
                dest: settings.dest.to_string(),
                endpoint_url: ctx.endpoint_url.clone(),
                selection: settings.selection.as_ref().map(|s| s.describe()),
            },
            shard: settings.shard.map(|s| s.to_string()),
            timing: ctx.timing.clone(),
            settings: ReportSettings {
                batch_size: settings.batch_size,
                workers: settings.workers,
                attempts: settings.attempts.attempts,
                retry_count: settings.attempts.retry_count,
                batch_timeout_seconds: settings.attempts.batch_timeout.map(|d| d.as_secs()),
            },
            totals,
            integrity: Integrity {
                checksums_verified: c.verified,
                unverified: c.unverified,
            },
            plan: PlanSummary {
                reasons: p.reasons.clone(),
                prefixes,
                listing_seconds: round3(p.listing_seconds),
            },
            listing: ListingReport {
                discovery: p.discovery,
                source: p.source_list,
                dest: p.dest_list,
                validation: state.validation.list,
                in_flight_max: p.in_flight_max,
                dest_skipped: p.dest_skipped,
            },
            operations,
            throughput: Throughput {
                copy_seconds: round3(state.copy_wall_seconds),
                ..Default::default()
            },
            cost: Default::default(),
            batches: state.batches.clone(),
            failures: state.failures.clone(),
            failures_omitted: state.failures_omitted,
            error: state
                .error
                .clone()
                .or_else(|| state.interruption(ctx.signal)),
            resources: ctx.resources.clone(),
            sampler_overhead_ms: ctx.sampler_overhead_ms,
            lakesync_cpu_seconds: ctx.lakesync_cpu_seconds,
            sla: Vec::new(),
            sla_status: crate::report::sla::Status::Ok,
            sla_history: None,
            throttling: ctx.throttling.clone(),
            exit_code: 0,
        };
        report.finish_derived();
        report.cost = crate::report::cost::of_run(
            &crate::report::cost::RunCounts::from_report(&report),
            &p.sizes,
            &settings.prices,
            &settings.cost_route(),
        );
        evaluate_sla(&mut report, settings, ctx.limits, ctx.history.as_deref());
        report.exit_code = exit_code(
            state,
            &ExitRules {
                signal: ctx.signal,
                dry_run: settings.output.dry_run,
                fail_on: settings.governor.fail_on,
                sla_status: report.sla_status,
                nothing_to_do: settings.output.exit_code_when_nothing_to_do,
            },
        );
        report
    }
}

/// Evaluate the SLA checks into the report (`--fail-on` is an exit rule: see `exit_code`).
fn evaluate_sla(
    report: &mut Report,
    settings: &Settings,
    limits: Limits,
    history: Option<&[RunFigures]>,
) {
    if report.run.dry_run {
        return;
    }
    let mode = match report.mode {
        "staged" => SlaMode::Staged,
        "mixed" => SlaMode::Mixed,
        _ => SlaMode::Direct,
    };
    let mut batch_seconds: Vec<(usize, f64)> = report
        .batches
        .iter()
        .map(|b| (b.files, b.seconds))
        .collect();
    // A small trailing batch is dominated by fixed costs (process start, one round trip):
    // judging it against a per-file baseline would flag every run.
    if batch_seconds.len() > 1
        && batch_seconds
            .last()
            .is_some_and(|(f, _)| *f * 2 < settings.batch_size)
    {
        batch_seconds.pop();
    }
    let (mem, cpu) = report
        .resources
        .as_ref()
        .map_or((0, 0.0), |r| (r.total_rss_peak_bytes, r.cpu_avg_pct));
    let t = &report.totals;
    let checks = crate::report::sla::evaluate(&SlaInputs {
        mode,
        planned: t.planned,
        copied: t.validated.min(t.copied),
        failed: t.failed,
        errors_seen: t.retried + t.failed,
        operations: report.operations.s5cmd_ops,
        batch_seconds,
        baseline_seconds_per_100: settings
            .governor
            .sla_baseline_seconds_per_100
            .unwrap_or_else(|| mode.default_baseline_seconds_per_100()),
        memory_peak_bytes: mem,
        memory_ceiling_bytes: if report.resources.is_some() {
            limits.max_memory_bytes
        } else {
            0
        },
        cpu_avg_pct: cpu,
        cpu_ceiling_pct: if report.resources.is_some() {
            limits.max_cpu_avg_pct
        } else {
            0.0
        },
    });
    let mut checks = checks;
    if let Some(earlier) = history
        && let Some(current) = run_figures(report)
    {
        let (more, baseline) = crate::report::sla_history::judge(&current, earlier);
        checks.extend(more);
        report.sla_history = Some(baseline);
    }
    report.sla_status = crate::report::sla::worst(&checks);
    report.sla = checks;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::sync::planner::PlanStats;
    use crate::commands::sync::state::RunEvent;
    use crate::list::multi::ListCounts;
    use crate::run::outcome::{Counters, OpCounts};

    fn settings(extra: &[&str]) -> Settings {
        use clap::Parser;
        let mut v = vec![
            "lakesync", "sync", "--source", "s3://src", "--dest", "s3://dst",
        ];
        v.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(v).unwrap().command {
            crate::cli::Command::Sync(a) => {
                Settings::resolve(&a, &crate::settings::Env::default()).unwrap()
            }
            other => panic!("parsed {other:?}"),
        }
    }

    fn ctx(settings: &Settings, signal: Option<i32>) -> RunContext<'_> {
        RunContext {
            settings,
            limits: Limits::direct(),
            tool: Tool {
                name: "lakesync",
                version: "0",
                s5cmd_version: "v2".into(),
                s5cmd_path: "/bin/s5cmd".into(),
            },
            endpoint_url: None,
            timing: Timing {
                started_at: "a".into(),
                finished_at: "b".into(),
                duration_seconds: 2.0,
            },
            resources: None,
            sampler_overhead_ms: None,
            lakesync_cpu_seconds: 0.5,
            signal,
            multipart_uploads_aborted: 0,
            history: None,
            throttling: Default::default(),
        }
    }

    fn state(interrupted: bool) -> RunState {
        let b = super::super::state::tests::batch(0, &[100, 300]);
        let mut s = RunState::default();
        s.handle(super::super::state::tests::finished(
            &b,
            &[0, 1],
            Counters {
                ops: OpCounts {
                    copy: 2,
                    ..Default::default()
                },
                processes: 1,
                direct_files: 2,
                unplanned: 1,
                interrupted,
                ..Default::default()
            },
        ));
        s.handle(RunEvent::Planned {
            stats: PlanStats {
                selected: 5,
                planned: if interrupted { 4 } else { 2 },
                skipped: 1,
                bytes_planned: 800,
                bytes_skipped: 7,
                batches: 1,
                listing_seconds: 0.12345,
                complete: !interrupted,
                prefixes: 1,
                source_list: ListCounts {
                    processes: 1,
                    ..ListCounts::default()
                },
                dest_list: ListCounts {
                    processes: 1,
                    ..ListCounts::default()
                },
                ..Default::default()
            },
            error: None,
        });
        s
    }

    #[test]
    fn a_report_is_read_off_the_run_state() {
        let settings = settings(&["--batch-size", "2"]);
        let mut s = state(false);
        s.handle(RunEvent::Listings(1));
        s.handle(RunEvent::Validated {
            ok: 2,
            bad: Vec::new(),
        });
        let r = Report::from_run(&s, &ctx(&settings, None));
        let t = &r.totals;
        assert_eq!((t.selected, t.planned, t.skipped), (5, 2, 1));
        assert_eq!((t.copied, t.failed, t.validated), (2, 0, 2));
        assert_eq!(
            (t.bytes_planned, t.bytes_skipped, t.bytes_copied),
            (800, 7, 400)
        );
        assert_eq!(t.batches, 1);
        assert_eq!(r.mode, "direct");
        assert_eq!(r.timing.duration_seconds, 2.0);
        assert_eq!(r.plan.listing_seconds, 0.123);
        // The batch's process, the validation listing, both sides' planning listings.
        assert_eq!(r.operations.s5cmd_processes, 1 + 1 + 2);
        assert_eq!(r.plan.prefixes, 1);
        assert_eq!(r.operations.s5cmd_ops, 2);
        assert_eq!(r.operations.per_file, 1.0);
        assert_eq!(r.operations.unplanned_copies, 1);
        assert_eq!(r.batches.len(), 1);
        assert!(r.error.is_none() && !r.run.interrupted);
        assert_eq!(r.exit_code, 0);
    }

    #[test]
    fn an_interrupted_report_keeps_what_was_planned_and_says_what_is_unknown() {
        let settings = settings(&[]);
        let r = Report::from_run(&state(true), &ctx(&settings, Some(15)));
        assert!(r.run.interrupted);
        assert_eq!(r.exit_code, 143);
        assert_eq!(
            (r.totals.selected, r.totals.planned, r.totals.copied),
            (5, 4, 2)
        );
        let e = r
            .error
            .as_ref()
            .expect("an interrupted report says what is unknown");
        assert!(e.message.contains("2 not attempted"), "{}", e.message);
        assert!(e.message.contains("not validated"), "{}", e.message);
        assert!(r.human_summary().contains("INTERRUPTED"));
    }
}
