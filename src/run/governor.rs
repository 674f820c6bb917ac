//! The worker governor: picks `--numworkers` for each s5cmd batch from what the previous
//! batch showed (throttling, memory, CPU, throughput). Pure: no clock, no I/O; the same
//! signals in the same order always give the same decisions.
//!
//! Policy, checked in this order after every batch:
//!
//! 1. **Cut** (never below the minimum) when the batch was throttled broadly
//!    (SlowDown/503 on most of its partition prefixes, or on requests no prefix can be
//!    named for: `run::throttle::broad`) or its memory peak went above the ceiling
//!    (halve), or when CPU was above a ceiling (average or peak) for 2 consecutive batches
//!    (one noisy peak never cuts): to the count projected at 90% of the ceiling, between
//!    half and one less than what ran. A cut starts a cooldown. Throttling on a few
//!    prefixes is not cut here: the attempt loop limits those prefixes (`run::throttle`)
//!    and the count holds (`throttled_prefix`) for everything else.
//! 2. **Cooldown**: for 2 batches after a cut the count holds, so a throttled endpoint is not
//!    hammered again at once and the count does not oscillate.
//! 3. **Hold** while the last batch was above a CPU ceiling (once: not yet a cut, but no
//!    time to add load either).
//! 4. **Probe** at the start and after each cooldown: raise by half (x1.5, rounded up).
//! 5. A probe that paid off (files/s more than 5% above the batch before the raise) raises
//!    again; one that did not settles the count (`throughput_flat`), and it then holds
//!    (`hold`) until the next cut. Batches at the same count are never compared with each
//!    other: their difference is batch content (object sizes), not the worker count, and
//!    raising on it would ratchet the count up on noise. (A settled count at the maximum
//!    reports `at_maximum` rather than `hold`.)
//! 6. **Reprobe**: a settled count below the maximum probes again (step 4) after 4 batches
//!    in a row that used under half of every ceiling: the load it settled or was cut under
//!    (the listing's CPU at the start of a run, another process) has gone. Without it a
//!    count cut while the listing ran stayed at a few workers for the rest of the run.
//!
//! Every decision that changes the count starts a new *epoch*, and each batch carries the
//! epoch it started in. With two batches in flight, the one that finishes after a decision
//! measured the count before it: such a stale signal never raises, settles or compares
//! throughput (it would undo the decision: the count alternated between the two batches'
//! counts before); it still cuts, but only when it ran at or below the current count (one
//! throttled batch at 64 workers after a cut to 32 does not cut again).
//!
//! A raise is x1.5, or straight to the most the headroom allows when the batch was
//! latency-bound: each object kept a worker busy for at least [`LATENCY_BOUND_SECONDS`]
//! (workers / files per second), which is what a WAN round trip per request looks like;
//! there, throughput grows with the count until s5cmd's own 256 or the CPU and memory
//! headroom, and each step on the way costs a batch at a count known to be too low (x4
//! took two decisions, about half a second each at 60 ms, to reach 256 from 32).
//!
//! Every raise is capped by the maximum, by the batch's file count (workers beyond the
//! number of commands in a batch idle), and by headroom: memory and CPU are projected
//! linearly from the last batch (pessimistic: lakesync's own base does not grow with
//! workers), and the count stops where the projection would cross a ceiling.

/// Direct mode (server-side copies): up to s5cmd's own default pool, 256. The spec's 50
/// (2.2.2) is where `--workers` may start; past it the governor goes only on measured gains
/// (latency-bound copies at WAN latency gain up to about 256).
pub const DIRECT_MAX_WORKERS: u32 = 256;
/// The spec's ceiling on the configured (starting) count (2.2.2).
pub const SPEC_MAX_WORKERS: u32 = 50;
/// Seconds of worker time per object above which a batch counts as latency-bound.
pub const LATENCY_BOUND_SECONDS: f64 = 0.04;
/// Staged mode (download then upload): up to 10 (spec 2.2.2).
pub const STAGED_MAX_WORKERS: u32 = 10;
/// lakesync plus its s5cmd children (spec 3.1.1 / 8.1.1).
pub const MEMORY_CEILING_BYTES: u64 = 500_000_000;
/// Per machine, 100 = every core (spec 3.2.1).
pub const CPU_AVG_CEILING_PCT: f32 = 25.0;
pub const CPU_PEAK_CEILING_PCT: f32 = 50.0;

/// Batches after a cut during which the count cannot rise.
pub const COOLDOWN_BATCHES: u32 = 2;
/// Settled batches in a row under half of every ceiling before the count is probed again.
pub const REPROBE_AFTER_CALM_BATCHES: u32 = 4;
/// Consecutive batches above a CPU ceiling before a cut.
pub const CPU_SUSTAINED_BATCHES: u32 = 2;
/// A CPU cut aims at this fraction of the ceiling that was crossed.
pub const CPU_CUT_TARGET: f64 = 0.9;
/// A probe pays off when files/s rises by more than this fraction.
pub const IMPROVEMENT: f64 = 0.05;
/// Raise factor (numerator / denominator), rounded up.
const RAISE_NUM: u32 = 3;
const RAISE_DEN: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Limits {
    pub min_workers: u32,
    pub max_workers: u32,
    /// lakesync plus children.
    pub max_memory_bytes: u64,
    /// Per machine.
    pub max_cpu_avg_pct: f32,
    pub max_cpu_peak_pct: f32,
}

impl Limits {
    /// The spec's ceilings for direct mode.
    pub const fn direct() -> Self {
        Self {
            min_workers: 1,
            max_workers: DIRECT_MAX_WORKERS,
            max_memory_bytes: MEMORY_CEILING_BYTES,
            max_cpu_avg_pct: CPU_AVG_CEILING_PCT,
            max_cpu_peak_pct: CPU_PEAK_CEILING_PCT,
        }
    }

    /// The spec's ceilings for staged mode.
    pub const fn staged() -> Self {
        Self {
            max_workers: STAGED_MAX_WORKERS,
            ..Self::direct()
        }
    }

    /// At least one worker, and `max >= min`.
    fn sanitized(self) -> Self {
        let min_workers = self.min_workers.max(1);
        Self {
            min_workers,
            max_workers: self.max_workers.max(min_workers),
            ..self
        }
    }
}

/// What one finished batch looked like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchSignal {
    /// Workers the batch ran with.
    pub workers: u32,
    /// The controller's epoch when the batch started ([`Controller::epoch`]).
    pub epoch: u64,
    pub files: usize,
    /// Objects known to be waiting behind this batch (the rest of a batch cut into
    /// pieces): a raise is capped by the larger of this and `files`, not by a piece.
    pub backlog: usize,
    pub seconds: f64,
    /// SlowDown / 503 errors seen.
    pub throttled: u64,
    /// Partition prefixes the batch's lines went to (0: unknown, e.g. throttling no line
    /// owned, or a staged batch) and how many of them answered throttling
    /// (`run::throttle::Spread::signal`).
    pub prefixes: u32,
    pub throttled_prefixes: u32,
    /// lakesync plus children.
    pub rss_peak_bytes: u64,
    pub cpu_avg_pct: f32,
    pub cpu_peak_pct: f32,
}

impl BatchSignal {
    fn files_per_s(&self) -> Option<f64> {
        (self.files > 0 && self.seconds > 0.0).then(|| self.files as f64 / self.seconds)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Decision {
    pub workers: u32,
    pub reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The first batch: the configured count.
    Start,
    /// Trying more workers: at the start, and after a cooldown.
    Probe,
    /// A cut: most of the batch's partition prefixes (or the endpoint) answered SlowDown/503.
    Throttled,
    /// Some of the batch's prefixes (not most) answered SlowDown/503: those are limited per
    /// prefix (`run::throttle`), the count holds.
    ThrottledPrefix,
    /// A cut because memory went above the ceiling, or a raise stopped short of it.
    MemoryCeiling,
    /// A cut because CPU stayed above a ceiling, or a raise stopped short of it.
    CpuCeiling,
    /// The last raise paid off: raise again.
    ThroughputImproved,
    /// The last raise did not pay off: settle here.
    ThroughputFlat,
    /// No further raise possible (limit, or batch file count); also a settled count at the
    /// maximum.
    AtMaximum,
    /// A settled count probes again: the last batches used under half of every ceiling (the
    /// load it settled or was cut under, such as the listing's, has gone).
    Reprobe,
    /// Nothing to change (settled, cooling down after a cut, or one batch above a CPU
    /// ceiling).
    Hold,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// The next batch may raise.
    Probe,
    /// The count was raised after a batch that ran at `files_per_s` (from
    /// `reprobed_from`, when a settled count was probed again).
    Probing {
        files_per_s: f64,
        reprobed_from: Option<u32>,
    },
    /// Hold until the next cut, or until [`REPROBE_AFTER_CALM_BATCHES`] batches in a row
    /// used under half of every ceiling.
    Settled,
}

/// Decides the worker count batch by batch; see the module docs for the policy.
#[derive(Debug, Clone)]
pub struct Controller {
    limits: Limits,
    current: u32,
    /// Bumped by every decision that changes the count.
    epoch: u64,
    phase: Phase,
    cooldown: u32,
    cpu_over_streak: u32,
    /// Settled batches in a row that used under half of every ceiling.
    calm_streak: u32,
}

impl Controller {
    /// `initial_workers` is clamped to the limits. A minimum of 0 is treated as 1, and a
    /// maximum below the minimum as the minimum.
    pub fn new(limits: Limits, initial_workers: u32) -> Self {
        let limits = limits.sanitized();
        Self {
            limits,
            current: initial_workers.clamp(limits.min_workers, limits.max_workers),
            epoch: 0,
            phase: Phase::Probe,
            cooldown: 0,
            cpu_over_streak: 0,
            calm_streak: 0,
        }
    }

    /// The decision for the first batch.
    pub fn initial(&self) -> Decision {
        Decision {
            workers: self.current,
            reason: Reason::Start,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The epoch a batch started now runs in; pass it back in its [`BatchSignal`].
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Decide the worker count for the next batch from the last batch's signal.
    pub fn next(&mut self, last: &BatchSignal) -> Decision {
        let l = self.limits;
        // What actually ran is the base, whatever we said before.
        let ran = last.workers.clamp(l.min_workers, l.max_workers);
        let cpu_over =
            last.cpu_avg_pct > l.max_cpu_avg_pct || last.cpu_peak_pct > l.max_cpu_peak_pct;
        self.cpu_over_streak = if cpu_over {
            self.cpu_over_streak + 1
        } else {
            0
        };

        // Throttling on a few prefixes is theirs: the attempt loop has limited them in the
        // run's throttle table, and the count holds for everything else.
        let broad =
            crate::run::throttle::broad(last.prefixes as usize, last.throttled_prefixes as usize);
        let cut = if last.throttled > 0 && broad {
            Some(Reason::Throttled)
        } else if last.rss_peak_bytes > l.max_memory_bytes {
            Some(Reason::MemoryCeiling)
        } else if self.cpu_over_streak >= CPU_SUSTAINED_BATCHES {
            Some(Reason::CpuCeiling)
        } else {
            None
        };
        if last.epoch != self.epoch {
            // Started before the last decision: it measured another count.
            return match cut {
                Some(reason) if ran <= self.current => {
                    self.cooldown = COOLDOWN_BATCHES;
                    self.cpu_over_streak = 0;
                    self.phase = Phase::Probe;
                    self.decide((ran / 2).max(l.min_workers), reason)
                }
                _ => Decision {
                    workers: self.current,
                    reason: Reason::Hold,
                },
            };
        }
        if let Some(reason) = cut {
            self.cooldown = COOLDOWN_BATCHES;
            self.cpu_over_streak = 0;
            self.phase = Phase::Probe;
            let to = if reason == Reason::CpuCeiling {
                cpu_cut(ran, last, &l)
            } else {
                ran / 2
            };
            return self.decide(to.max(l.min_workers), reason);
        }
        if last.throttled > 0 {
            // Its files/s measured a throttled prefix, not the count: neither raise nor
            // settle on it (the phase waits for a clean batch).
            return self.decide(ran, Reason::ThrottledPrefix);
        }
        if self.cooldown > 0 {
            self.cooldown -= 1;
            return self.decide(ran, Reason::Hold);
        }
        if cpu_over {
            return self.decide(ran, Reason::Hold);
        }
        match self.phase {
            Phase::Probe => self.raise(ran, last, Reason::Probe),
            Phase::Probing {
                files_per_s,
                reprobed_from,
            } => match last.files_per_s() {
                Some(now) if now > files_per_s * (1.0 + IMPROVEMENT) => {
                    self.raise(ran, last, Reason::ThroughputImproved)
                }
                Some(_) => {
                    self.phase = Phase::Settled;
                    // A reprobe that did not pay goes back: settling on its count would
                    // ratchet the count up one reprobe at a time on noise.
                    self.decide(reprobed_from.unwrap_or(ran), Reason::ThroughputFlat)
                }
                // An empty batch says nothing: keep waiting for a comparable one.
                None => self.decide(ran, Reason::Hold),
            },
            Phase::Settled if ran >= l.max_workers => self.decide(ran, Reason::AtMaximum),
            Phase::Settled => {
                let half = |used: f64, ceiling: f64| used < ceiling / 2.0;
                let calm = half(f64::from(last.cpu_avg_pct), f64::from(l.max_cpu_avg_pct))
                    && half(f64::from(last.cpu_peak_pct), f64::from(l.max_cpu_peak_pct))
                    && half(last.rss_peak_bytes as f64, l.max_memory_bytes as f64);
                self.calm_streak = if calm { self.calm_streak + 1 } else { 0 };
                if self.calm_streak >= REPROBE_AFTER_CALM_BATCHES {
                    self.calm_streak = 0;
                    self.raise(ran, last, Reason::Reprobe)
                } else {
                    self.decide(ran, Reason::Hold)
                }
            }
        }
    }

    fn raise(&mut self, ran: u32, last: &BatchSignal, reason: Reason) -> Decision {
        let Some(files_per_s) = last.files_per_s() else {
            // Nothing to compare the raise against later.
            return self.decide(ran, Reason::Hold);
        };
        let l = self.limits;
        let by_files = u32::try_from(last.files.max(last.backlog)).unwrap_or(u32::MAX);
        let cap = l.max_workers.min(by_files.max(l.min_workers));
        if ran >= cap {
            self.phase = Phase::Settled;
            return self.decide(ran, Reason::AtMaximum);
        }
        let latency_bound = f64::from(ran) / files_per_s >= LATENCY_BOUND_SECONDS;
        let wanted = if latency_bound {
            cap
        } else {
            ran.saturating_mul(RAISE_NUM).div_ceil(RAISE_DEN)
        }
        .min(cap);
        let by_memory = headroom(ran, last.rss_peak_bytes as f64, l.max_memory_bytes as f64);
        let by_cpu = headroom(
            ran,
            f64::from(last.cpu_avg_pct),
            f64::from(l.max_cpu_avg_pct),
        );
        let workers = wanted.min(by_memory).min(by_cpu);
        if workers <= ran {
            self.phase = Phase::Settled;
            let reason = if by_memory <= by_cpu {
                Reason::MemoryCeiling
            } else {
                Reason::CpuCeiling
            };
            return self.decide(ran, reason);
        }
        self.phase = Phase::Probing {
            files_per_s,
            reprobed_from: (reason == Reason::Reprobe).then_some(ran),
        };
        let reason = if workers == cap {
            Reason::AtMaximum
        } else if workers < wanted {
            if by_memory <= by_cpu {
                Reason::MemoryCeiling
            } else {
                Reason::CpuCeiling
            }
        } else {
            reason
        };
        self.decide(workers, reason)
    }

    fn decide(&mut self, workers: u32, reason: Reason) -> Decision {
        let workers = workers.clamp(self.limits.min_workers, self.limits.max_workers);
        if workers != self.current {
            self.epoch += 1;
        }
        self.current = workers;
        Decision {
            workers: self.current,
            reason,
        }
    }
}

/// A cut for sustained CPU above a ceiling: to the count whose linear projection lands at
/// [`CPU_CUT_TARGET`] of the ceiling that was crossed most, never below half of what ran
/// and always below it. At WAN latency s5cmd's CPU grows with the copies in flight, and a
/// halving undershot (workers went 90, 45, then back up), where the projection settles
/// close to the ceiling.
fn cpu_cut(ran: u32, last: &BatchSignal, l: &Limits) -> u32 {
    let ratio = |used: f32, ceiling: f32| {
        if used > 0.0 {
            f64::from(ceiling) / f64::from(used)
        } else {
            1.0
        }
    };
    let fit = ratio(last.cpu_avg_pct, l.max_cpu_avg_pct)
        .min(ratio(last.cpu_peak_pct, l.max_cpu_peak_pct))
        * CPU_CUT_TARGET;
    let to = (f64::from(ran) * fit).floor() as u32;
    to.clamp(ran / 2, ran.saturating_sub(1))
}

/// The largest worker count whose linear projection of `used` (measured at `workers`) stays
/// within `ceiling`; unbounded when nothing was measured.
fn headroom(workers: u32, used: f64, ceiling: f64) -> u32 {
    if used <= 0.0 || ceiling <= 0.0 {
        return u32::MAX;
    }
    let w = (ceiling / used * f64::from(workers)).floor();
    if w >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        w as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    fn decision(workers: u32, reason: Reason) -> Decision {
        Decision { workers, reason }
    }

    /// A new direct controller's decision at `workers` on its first batch, `signal`.
    fn decide(workers: u32, signal: &BatchSignal) -> Decision {
        Controller::new(Limits::direct(), workers).fresh(signal)
    }

    impl Controller {
        /// `next` with a signal from a batch started after the last decision.
        fn fresh(&mut self, s: &BatchSignal) -> Decision {
            let epoch = self.epoch;
            self.next(&BatchSignal { epoch, ..*s })
        }
    }

    /// Two batches in flight: A and B start at 32; A's signal raises to 48 (a new epoch);
    /// B, still at 32, finishes next. Before, B's signal was read as the base and the count
    /// went back to 32 and up again, alternating; now it holds 48, and the next fresh
    /// batch (C, at 48) is compared with A.
    #[test]
    fn a_stale_signal_from_the_other_batch_in_flight_never_undoes_a_decision() {
        let mut c = Controller::new(Limits::direct(), 32);
        let e0 = c.epoch();
        let a = BatchSignal {
            epoch: e0,
            ..calm(32, 1.0)
        };
        let d = c.next(&a);
        assert_eq!((d.workers, d.reason), (48, Reason::Probe));
        assert_ne!(c.epoch(), e0);
        // B ran at 32 in the old epoch, and was even faster: it must not count.
        let b = BatchSignal {
            epoch: e0,
            ..calm(32, 0.5)
        };
        assert_eq!(c.next(&b), decision(48, Reason::Hold));
        // C at 48, 60% faster than A: the probe paid off.
        let d = c.fresh(&calm(48, 0.625));
        assert_eq!((d.workers, d.reason), (72, Reason::ThroughputImproved));
        // A stale throttled batch that ran above the current count does not cut again...
        let mut c = Controller::new(Limits::direct(), 32);
        let e0 = c.epoch();
        let throttled = |w, epoch| BatchSignal {
            throttled: 1,
            epoch,
            ..calm(w, 1.0)
        };
        assert_eq!(c.next(&throttled(32, e0)).workers, 16);
        assert_eq!(c.next(&throttled(32, e0)).workers, 16);
        // ...but one at or below it does.
        let e1 = c.epoch();
        assert_eq!(c.next(&throttled(16, e1)).workers, 8);
        assert_eq!(c.next(&throttled(8, e1)).workers, 4);
    }

    /// At WAN latency each object holds a worker for a round trip: the raise goes straight
    /// to s5cmd's 256 (past the spec's 50), or as far as the headroom allows.
    #[test]
    fn latency_bound_batches_go_past_50_up_to_256_at_once() {
        let mut c = Controller::new(Limits::direct(), 32);
        // 60 ms per copy: files/s = workers / 0.06.
        let wan = |w: u32| BatchSignal {
            files: 2000,
            seconds: 2000.0 * 0.06 / f64::from(w),
            ..calm(w, 1.0)
        };
        let ds = run(&mut c, 5, wan);
        assert_eq!(workers(&ds), vec![256, 256, 256, 256, 256]);
        assert_eq!(ds[0].reason, Reason::AtMaximum);
        // The CPU projection still caps the jump: 20% at 32 workers, a 25% ceiling.
        let hot = |w: u32| BatchSignal {
            cpu_avg_pct: 20.0 * f64::from(w) as f32 / 32.0,
            cpu_peak_pct: 20.0 * f64::from(w) as f32 / 32.0,
            ..wan(w)
        };
        assert_eq!(decide(32, &hot(32)), decision(40, Reason::CpuCeiling));
        // A piece of 64 objects with 2,000 behind it raises past its own size...
        let piece = |backlog| BatchSignal {
            files: 64,
            backlog,
            seconds: 64.0 * 0.06 / 32.0,
            ..calm(32, 1.0)
        };
        assert_eq!(decide(32, &piece(2000)).workers, 256);
        // ...and a last batch of 64 does not.
        assert_eq!(decide(32, &piece(0)).workers, 64);
        // Staged stays at its 10.
        let mut c = Controller::new(Limits::staged(), 8);
        assert_eq!(run(&mut c, 3, wan).last().unwrap().workers, 10);
    }

    /// A calm batch: 100 files in `seconds`, 50 MB, 5% CPU.
    fn calm(workers: u32, seconds: f64) -> BatchSignal {
        BatchSignal {
            workers,
            epoch: 0,
            // Many files a second per worker: not latency-bound (x1.5 raises).
            files: 10_000,
            backlog: 0,
            seconds,
            throttled: 0,
            prefixes: 0,
            throttled_prefixes: 0,
            rss_peak_bytes: 50 * MB,
            cpu_avg_pct: 2.0,
            cpu_peak_pct: 5.0,
        }
    }

    /// Feed `signal(workers_now)` for `n` batches, returning the decisions.
    fn run(
        c: &mut Controller,
        n: u32,
        mut signal: impl FnMut(u32) -> BatchSignal,
    ) -> Vec<Decision> {
        run_numbered(c, n, |_, w| signal(w))
    }

    /// Feed `signal(i, workers_now)` for batches `i` in `0..n`, returning the decisions.
    fn run_numbered(
        c: &mut Controller,
        n: u32,
        mut signal: impl FnMut(u32, u32) -> BatchSignal,
    ) -> Vec<Decision> {
        let mut w = c.initial().workers;
        (0..n)
            .map(|i| {
                let d = c.fresh(&signal(i, w));
                w = d.workers;
                d
            })
            .collect()
    }

    fn workers(ds: &[Decision]) -> Vec<u32> {
        ds.iter().map(|d| d.workers).collect()
    }

    #[test]
    fn steady_state_probes_once_then_holds() {
        let mut c = Controller::new(Limits::direct(), 8);
        assert_eq!(c.initial(), decision(8, Reason::Start));
        let ds = run(&mut c, 12, |w| calm(w, 1.0));
        assert_eq!(
            workers(&ds),
            vec![12, 12, 12, 12, 12, 18, 12, 12, 12, 12, 18, 12]
        );
        assert_eq!(ds[0].reason, Reason::Probe);
        assert_eq!(ds[1].reason, Reason::ThroughputFlat);
        assert!(ds[2..5].iter().all(|d| d.reason == Reason::Hold));
        // Four calm batches (under half of every ceiling): probed again; it did not pay,
        // so the count goes back to where it settled.
        assert_eq!(ds[5].reason, Reason::Reprobe);
        assert_eq!(ds[6].reason, Reason::ThroughputFlat);
        assert_eq!(ds[10].reason, Reason::Reprobe);
    }

    /// A count settled where throughput looked flat (tiny pieces at a few workers, each
    /// paying its own start and LIST) is probed again once batches run calm, and climbs
    /// while each raise pays off. Before, it held at 4 workers for the rest of a backfill.
    #[test]
    fn a_settled_count_is_probed_again_when_batches_run_calm() {
        let mut c = Controller::new(Limits::direct(), 4);
        let ds = run_numbered(&mut c, 16, |i, w| {
            // The first 4 batches: 34 files/s whatever the count; then 60 ms per copy.
            let seconds = if i < 4 {
                1.0
            } else {
                2000.0 * 0.06 / f64::from(w)
            };
            let files = if i < 4 { 34 } else { 2000 };
            BatchSignal {
                files,
                backlog: 100_000,
                seconds,
                cpu_avg_pct: 4.0,
                cpu_peak_pct: 6.0,
                ..calm(w, 1.0)
            }
        });
        let w = workers(&ds);
        assert_eq!(ds[1].reason, Reason::ThroughputFlat, "{ds:?}");
        assert!(ds[2..5].iter().all(|d| d.reason == Reason::Hold), "{ds:?}");
        // The fourth calm batch: probed again (the raise stops at the CPU projection).
        assert!(w[5] > w[4], "{ds:?}");
        assert_eq!(*w.last().unwrap(), DIRECT_MAX_WORKERS, "{w:?}");
    }

    #[test]
    fn throttling_halves_down_to_the_floor() {
        let mut c = Controller::new(Limits::direct(), 16);
        let ds = run(&mut c, 6, |w| BatchSignal {
            throttled: 3,
            ..calm(w, 1.0)
        });
        assert_eq!(workers(&ds), vec![8, 4, 2, 1, 1, 1]);
        assert!(ds.iter().all(|d| d.reason == Reason::Throttled));

        let floor = Limits {
            min_workers: 4,
            ..Limits::direct()
        };
        let mut c = Controller::new(floor, 10);
        let ds = run(&mut c, 3, |w| BatchSignal {
            throttled: 1,
            ..calm(w, 1.0)
        });
        assert_eq!(workers(&ds), vec![5, 4, 4]);
    }

    /// SlowDown from one prefix of many is that prefix's (the attempt loop limits it): the
    /// count holds, and neither raises nor settles on the batch. Most prefixes throttled, or
    /// an unknown spread, is the endpoint's: a cut.
    #[test]
    fn throttling_on_one_prefix_holds_throttling_on_most_cuts() {
        let spread = |w, prefixes, throttled_prefixes| BatchSignal {
            throttled: 5,
            prefixes,
            throttled_prefixes,
            ..calm(w, 1.0)
        };
        let mut c = Controller::new(Limits::direct(), 32);
        let d = c.fresh(&spread(32, 10, 1));
        assert_eq!((d.workers, d.reason), (32, Reason::ThrottledPrefix));
        // The pending probe goes ahead on the next clean batch.
        let d = c.fresh(&calm(32, 1.0));
        assert_eq!((d.workers, d.reason), (48, Reason::Probe));
        // A throttled batch while probing is not compared with the one before the raise...
        let d = c.fresh(&spread(48, 10, 1));
        assert_eq!((d.workers, d.reason), (48, Reason::ThrottledPrefix));
        // ...the next clean one is (60% faster: raise again).
        let d = c.fresh(&calm(48, 0.625));
        assert_eq!((d.workers, d.reason), (72, Reason::ThroughputImproved));
        // One prefix that is the whole batch is still its own.
        assert_eq!(c.fresh(&spread(72, 1, 1)).reason, Reason::ThrottledPrefix);
        // Most of several prefixes: the endpoint.
        let d = c.fresh(&spread(72, 3, 2));
        assert_eq!((d.workers, d.reason), (36, Reason::Throttled));
        // Unknown spread (prefixes 0): the endpoint, as before prefixes were tracked.
        assert_eq!(decide(32, &spread(32, 0, 0)).workers, 16);
    }

    /// The first decision at `workers` on a calm batch whose memory peaked at `mb` MB
    /// (the direct ceiling is 500 MB).
    fn at_memory(workers: u32, mb: u64) -> Decision {
        decide(
            workers,
            &BatchSignal {
                rss_peak_bytes: mb * MB,
                ..calm(workers, 1.0)
            },
        )
    }

    #[test]
    fn memory_above_ceiling_cuts() {
        assert_eq!(at_memory(20, 501), decision(10, Reason::MemoryCeiling));
        // Exactly at the ceiling is not above it: no cut, but no room to raise either.
        assert_eq!(at_memory(20, 500), decision(20, Reason::MemoryCeiling));
    }

    #[test]
    fn raise_stops_short_of_the_memory_ceiling() {
        // 400 MB at 10 workers projects to 500 MB at 12.5: raise to 12, not 15.
        assert_eq!(at_memory(10, 400), decision(12, Reason::MemoryCeiling));
        // At 480 MB no raise fits at all.
        assert_eq!(at_memory(10, 480), decision(10, Reason::MemoryCeiling));
    }

    #[test]
    fn one_cpu_spike_holds_sustained_cpu_cuts() {
        let hot = |w| BatchSignal {
            cpu_avg_pct: 30.0,
            cpu_peak_pct: 60.0,
            ..calm(w, 1.0)
        };
        let mut c = Controller::new(Limits::direct(), 10);
        assert_eq!(c.fresh(&hot(10)), decision(10, Reason::Hold));
        // Back to calm: no cut, and the pending probe goes ahead.
        assert_eq!(c.fresh(&calm(10, 1.0)), decision(15, Reason::Probe));

        let mut c = Controller::new(Limits::direct(), 10);
        assert_eq!(c.fresh(&hot(10)).workers, 10);
        // 30% average and 60% peak against 25% and 50%: the projection of 90% of the
        // ceilings is 10 x 25/30 x 0.9 = 7.5.
        assert_eq!(c.fresh(&hot(10)), decision(7, Reason::CpuCeiling));
        // The streak restarts after a cut: one more hot batch alone does not cut again.
        assert_eq!(c.fresh(&hot(7)), decision(7, Reason::Hold));
        // Far above the ceiling the cut is a halving at most; just above it, one worker
        // at least.
        let l = Limits::direct();
        let at = |avg, peak| BatchSignal {
            cpu_avg_pct: avg,
            cpu_peak_pct: peak,
            ..calm(100, 1.0)
        };
        assert_eq!(cpu_cut(100, &at(90.0, 100.0), &l), 50);
        assert_eq!(cpu_cut(100, &at(25.5, 30.0), &l), 88);
        assert_eq!(cpu_cut(100, &at(24.0, 50.5), &l), 89);
        assert_eq!(cpu_cut(1, &at(90.0, 100.0), &l), 0);
    }

    #[test]
    fn a_peak_alone_counts_as_over_the_ceiling() {
        let spiky = |w| BatchSignal {
            cpu_peak_pct: 55.0,
            ..calm(w, 1.0)
        };
        let mut c = Controller::new(Limits::direct(), 10);
        c.fresh(&spiky(10));
        assert_eq!(c.fresh(&spiky(10)).reason, Reason::CpuCeiling);
    }

    #[test]
    fn noisy_cpu_never_cuts() {
        let mut c = Controller::new(Limits::direct(), 10);
        // Every second batch is hot.
        let ds = run_numbered(&mut c, 12, |i, w| {
            if i % 2 == 1 {
                BatchSignal {
                    cpu_avg_pct: 40.0,
                    cpu_peak_pct: 90.0,
                    ..calm(w, 1.0)
                }
            } else {
                calm(w, 1.0)
            }
        });
        assert!(ds.iter().all(|d| d.reason != Reason::CpuCeiling), "{ds:?}");
        assert!(ds.iter().all(|d| d.workers >= 10), "{ds:?}");
    }

    /// Throughput proportional to workers: every probe pays off.
    fn linear(w: u32) -> BatchSignal {
        calm(w, 100.0 / (f64::from(w) * 2.0))
    }

    #[test]
    fn improving_throughput_ramps_to_max_and_stops() {
        let spec = Limits {
            max_workers: SPEC_MAX_WORKERS,
            ..Limits::direct()
        };
        let mut c = Controller::new(spec, 4);
        let ds = run(&mut c, 10, linear);
        assert_eq!(workers(&ds), vec![6, 9, 14, 21, 32, 48, 50, 50, 50, 50]);
        assert_eq!(ds[0].reason, Reason::Probe);
        assert!(
            ds[1..6]
                .iter()
                .all(|d| d.reason == Reason::ThroughputImproved)
        );
        assert_eq!(ds[6].reason, Reason::AtMaximum);
        // 48 -> 50 workers is +4%, so throughput cannot rise by 5%: the probe settles.
        assert_eq!(ds[7].reason, Reason::ThroughputFlat);
        assert!(
            ds[8..].iter().all(|d| d.reason == Reason::AtMaximum),
            "{ds:?}"
        );
    }

    #[test]
    fn gains_below_five_percent_settle() {
        let mut c = Controller::new(Limits::direct(), 10);
        assert_eq!(c.fresh(&calm(10, 1.0)).workers, 15);
        // 100 files in 0.96 s: +4.2%, not enough.
        assert_eq!(
            c.fresh(&calm(15, 0.96)),
            decision(15, Reason::ThroughputFlat)
        );
        // Settled: a faster batch at the same count is content, not workers.
        assert_eq!(c.fresh(&calm(15, 0.5)), decision(15, Reason::Hold));
    }

    #[test]
    fn recovery_after_throttling_waits_out_the_cooldown() {
        let mut c = Controller::new(Limits::direct(), 4);
        let ds = run_numbered(&mut c, 10, |i, w| {
            let s = linear(w);
            // The fourth batch is throttled.
            if i == 3 {
                BatchSignal { throttled: 2, ..s }
            } else {
                s
            }
        });
        assert_eq!(workers(&ds), vec![6, 9, 14, 7, 7, 7, 11, 17, 26, 39]);
        assert_eq!(ds[3].reason, Reason::Throttled);
        assert_eq!((ds[4].reason, ds[5].reason), (Reason::Hold, Reason::Hold));
        assert_eq!(ds[6].reason, Reason::Probe);
        assert_eq!(ds[7].reason, Reason::ThroughputImproved);
    }

    #[test]
    fn a_cut_during_cooldown_still_cuts() {
        let mut c = Controller::new(Limits::direct(), 16);
        let throttled = |w| BatchSignal {
            throttled: 1,
            ..calm(w, 1.0)
        };
        assert_eq!(c.fresh(&throttled(16)).workers, 8);
        assert_eq!(c.fresh(&calm(8, 1.0)).reason, Reason::Hold);
        assert_eq!(c.fresh(&throttled(8)).workers, 4);
        // The cooldown restarted.
        assert_eq!(c.fresh(&calm(4, 1.0)).reason, Reason::Hold);
        assert_eq!(c.fresh(&calm(4, 1.0)).reason, Reason::Hold);
        assert_eq!(c.fresh(&calm(4, 1.0)).reason, Reason::Probe);
    }

    #[test]
    fn never_more_workers_than_files() {
        let five_files = |w| BatchSignal {
            files: 5,
            ..calm(w, 1.0)
        };
        assert_eq!(decide(4, &five_files(4)), decision(5, Reason::AtMaximum));
        assert_eq!(decide(8, &five_files(8)), decision(8, Reason::AtMaximum));
    }

    #[test]
    fn empty_batches_do_not_raise() {
        let mut c = Controller::new(Limits::direct(), 4);
        let empty = BatchSignal {
            files: 0,
            seconds: 0.0,
            ..calm(4, 1.0)
        };
        assert_eq!(c.fresh(&empty), decision(4, Reason::Hold));
        assert_eq!(c.fresh(&calm(4, 1.0)).reason, Reason::Probe);
    }

    #[test]
    fn limits_are_sanitized_and_respected() {
        let odd = Limits {
            min_workers: 0,
            max_workers: 0,
            ..Limits::direct()
        };
        let c = Controller::new(odd, 7);
        assert_eq!(c.limits().min_workers, 1);
        assert_eq!(c.limits().max_workers, 1);
        assert_eq!(c.initial().workers, 1);
        assert_eq!(Controller::new(Limits::staged(), 99).initial().workers, 10);
        // A signal reporting a count outside the limits is clamped, never echoed.
        let mut c = Controller::new(Limits::staged(), 4);
        let d = c.fresh(&calm(40, 1.0));
        assert!(d.workers <= STAGED_MAX_WORKERS);
    }

    #[test]
    fn deterministic() {
        let script = |i: u32, w: u32| BatchSignal {
            throttled: u64::from(i % 7 == 3),
            cpu_avg_pct: if i.is_multiple_of(5) { 30.0 } else { 3.0 },
            rss_peak_bytes: u64::from(i) * 20 * MB,
            ..linear(w)
        };
        let go = || {
            let ds = run_numbered(&mut Controller::new(Limits::direct(), 3), 40, script);
            assert!(ds.iter().all(|d| (1..=50).contains(&d.workers)), "{ds:?}");
            ds
        };
        assert_eq!(go(), go());
    }

    #[test]
    fn reasons_serialize_snake_case() {
        let d = Decision {
            workers: 3,
            reason: Reason::ThroughputImproved,
        };
        assert_eq!(
            serde_json::to_string(&d).ok().as_deref(),
            Some(r#"{"workers":3,"reason":"throughput_improved"}"#)
        );
    }
}
