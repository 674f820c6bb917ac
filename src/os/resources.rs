//! Resource sampling: memory and CPU of lakesync and of every process it started.
//!
//! A [`Sampler`] owns a background `std::thread` (never a tokio worker, so sampling stays
//! off the copy path) that wakes every interval, finds the process tree rooted at lakesync
//! (s5cmd children come and go, and may have children of their own), and records RSS and
//! CPU for the tree plus the system's available memory. Only running aggregates and a
//! bounded ring of recent samples are kept, so the sampler's own memory stays flat however
//! long the run is.
//!
//! Finding the tree: on Linux kernels with `CONFIG_PROC_CHILDREN` the sampler follows
//! `/proc/<pid>/task/<tid>/children` down from lakesync, so a sample reads only the tree's
//! own files; elsewhere it reads every process's parent pid through sysinfo, which costs
//! about 20 us per process on the machine per sample. Memory and CPU are then read for the
//! tree only.
//!
//! What the numbers mean:
//! - RSS is summed over processes, so pages shared between them (libraries) count once per
//!   process: an upper bound, which is the safe side for a ceiling.
//! - CPU is "per machine": 100% means every logical CPU busy. It is computed from each
//!   process's accumulated CPU time between two samples (not sysinfo's `cpu_usage()`, which
//!   reads 0 the first time it sees a process and would miss the first interval of every
//!   short-lived s5cmd). The CPU a child burns between the last sample and its exit is not
//!   seen: at most one interval per child.
//!
//! The aggregation is pure (`Aggregates`, `descendants`, `cpu_delta_ms`) and unit-tested
//! without processes; `Probe` is the only part that reads `/proc` (through sysinfo).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sysinfo::{
    CpuRefreshKind, MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System,
};

/// The sampling interval used unless the caller picks another.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);

/// Samples kept for [`Sampler::recent`]: about 40 minutes at the default interval, ~0.5 MB.
pub const RECENT_CAPACITY: usize = 10_000;

/// A final sample is taken at [`Sampler::stop`] only if at least this long passed since the
/// previous one: the kernel counts CPU time in 10 ms ticks, so a shorter span is mostly noise.
const MIN_FINAL_SPAN: Duration = Duration::from_millis(50);

/// One reading of the process tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Milliseconds since the sampler started.
    pub at_ms: u64,
    /// Resident memory of lakesync itself.
    pub self_rss: u64,
    /// Resident memory of every descendant process, summed.
    pub child_rss: u64,
    /// CPU of lakesync over the last interval, per machine (100 = all cores busy).
    pub self_cpu_pct: f32,
    /// CPU of every descendant over the last interval, per machine.
    pub child_cpu_pct: f32,
    /// Memory the system could still hand out (`MemAvailable`).
    pub available_memory: u64,
}

impl Sample {
    pub fn total_rss(&self) -> u64 {
        self.self_rss.saturating_add(self.child_rss)
    }

    pub fn total_cpu_pct(&self) -> f32 {
        self.self_cpu_pct + self.child_cpu_pct
    }
}

/// Peaks between two [`Sampler::take_window`] calls (one batch, typically).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Window {
    /// lakesync plus children.
    pub rss_peak_bytes: u64,
    pub child_rss_peak_bytes: u64,
    /// lakesync plus children, per machine.
    pub cpu_peak_pct: f32,
    pub cpu_avg_pct: f32,
    /// Samples that fell inside the window. When 0 (a window shorter than the interval), the
    /// other fields repeat the latest sample, which is the best available estimate.
    pub samples: u64,
}

/// Whole-run figures.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResourceSummary {
    /// lakesync itself.
    pub rss_peak_bytes: u64,
    pub child_rss_peak_bytes: u64,
    /// Peak of lakesync plus children at the same instant.
    pub total_rss_peak_bytes: u64,
    /// lakesync plus children, per machine.
    pub cpu_avg_pct: f32,
    pub cpu_peak_pct: f32,
    pub samples: u64,
    pub interval_ms: u64,
    /// The denominator of the per-machine CPU figures.
    pub logical_cpus: u32,
}

/// The sampler could not start.
#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    #[error("cannot read process information on this platform: {0}")]
    Unsupported(#[source] sysinfo::Error),
    #[error("cannot start the resource sampler thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Running aggregates over a stream of samples: constant size.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Aggregates {
    self_rss_peak: u64,
    child_rss_peak: u64,
    total_rss_peak: u64,
    cpu_peak: f32,
    cpu_sum: f64,
    samples: u64,
}

impl Aggregates {
    fn record(&mut self, s: &Sample) {
        self.self_rss_peak = self.self_rss_peak.max(s.self_rss);
        self.child_rss_peak = self.child_rss_peak.max(s.child_rss);
        self.total_rss_peak = self.total_rss_peak.max(s.total_rss());
        self.cpu_peak = self.cpu_peak.max(s.total_cpu_pct());
        self.cpu_sum += f64::from(s.total_cpu_pct());
        self.samples += 1;
    }

    fn cpu_avg(&self) -> f32 {
        if self.samples == 0 {
            0.0
        } else {
            (self.cpu_sum / self.samples as f64) as f32
        }
    }

    fn window(&self, latest: Option<&Sample>) -> Window {
        match (self.samples, latest) {
            (0, Some(s)) => Window {
                rss_peak_bytes: s.total_rss(),
                child_rss_peak_bytes: s.child_rss,
                cpu_peak_pct: s.total_cpu_pct(),
                cpu_avg_pct: s.total_cpu_pct(),
                samples: 0,
            },
            _ => Window {
                rss_peak_bytes: self.total_rss_peak,
                child_rss_peak_bytes: self.child_rss_peak,
                cpu_peak_pct: self.cpu_peak,
                cpu_avg_pct: self.cpu_avg(),
                samples: self.samples,
            },
        }
    }

    fn summary(&self, interval: Duration, logical_cpus: u32) -> ResourceSummary {
        ResourceSummary {
            rss_peak_bytes: self.self_rss_peak,
            child_rss_peak_bytes: self.child_rss_peak,
            total_rss_peak_bytes: self.total_rss_peak,
            cpu_avg_pct: self.cpu_avg(),
            cpu_peak_pct: self.cpu_peak,
            samples: self.samples,
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            logical_cpus,
        }
    }
}

/// Every process below `root`, breadth-first; `children_of(pid, out)` appends the children
/// of `pid`. The visited set means a recycled pid that happens to form a cycle cannot loop
/// forever.
fn walk(root: u32, mut children_of: impl FnMut(u32, &mut Vec<u32>)) -> Vec<u32> {
    let mut seen = HashSet::from([root]);
    let mut out = Vec::new();
    let mut queue = VecDeque::from([root]);
    let mut kids = Vec::new();
    while let Some(p) = queue.pop_front() {
        kids.clear();
        children_of(p, &mut kids);
        for &c in &kids {
            if seen.insert(c) {
                out.push(c);
                queue.push_back(c);
            }
        }
    }
    out
}

/// Every process below `root`, given (pid, parent pid) pairs for the whole machine.
fn descendants(root: u32, parents: impl IntoIterator<Item = (u32, u32)>) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, parent) in parents {
        if pid != parent {
            children.entry(parent).or_default().push(pid);
        }
    }
    walk(root, |p, out| {
        out.extend(children.get(&p).into_iter().flatten());
    })
}

/// Children of `pid` as the kernel lists them in `/proc/<pid>/task/<tid>/children`, one file
/// per thread (a child belongs to the thread that forked it: tokio spawns from any worker).
/// A process or thread that exits meanwhile simply contributes nothing.
fn children_from_proc(proc: &Path, pid: u32, out: &mut Vec<u32>) {
    let Ok(tasks) = std::fs::read_dir(proc.join(pid.to_string()).join("task")) else {
        return;
    };
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                list.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
}

/// How the tree is found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TreeWalk {
    /// Follow `/proc/<pid>/task/<tid>/children` down from lakesync: reads only the tree's own
    /// files, so the cost does not grow with the machine's process count. Needs Linux with
    /// `CONFIG_PROC_CHILDREN` (on in the usual distribution kernels).
    ChildrenFiles(PathBuf),
    /// Read every process's parent pid through sysinfo: works everywhere, costs about 20 us
    /// per process on the machine per sample.
    FullScan,
}

impl TreeWalk {
    fn detect(me: Pid) -> Self {
        let proc = PathBuf::from("/proc");
        let main_thread = proc
            .join(me.to_string())
            .join("task")
            .join(me.to_string())
            .join("children");
        if main_thread.is_file() {
            TreeWalk::ChildrenFiles(proc)
        } else {
            TreeWalk::FullScan
        }
    }
}

/// A process as the CPU accounting knows it: the start time tells a recycled pid apart.
type ProcKey = (u32, u64);

/// CPU milliseconds `key` used since the previous sample; a process not seen before counts
/// from zero, since it started after that sample.
fn cpu_delta_ms(previous: &HashMap<ProcKey, u64>, key: ProcKey, accumulated_ms: u64) -> u64 {
    accumulated_ms.saturating_sub(previous.get(&key).copied().unwrap_or(0))
}

/// CPU milliseconds over a wall-clock span, as a share of the whole machine.
fn per_machine_pct(cpu_ms: u64, span: Duration, logical_cpus: u32) -> f32 {
    let capacity_ms = span.as_secs_f64() * 1000.0 * f64::from(logical_cpus.max(1));
    if capacity_ms <= 0.0 {
        return 0.0;
    }
    // A process first seen in this sample may have started a little before the previous
    // one; never report more than the machine has.
    (cpu_ms as f64 / capacity_ms * 100.0).clamp(0.0, 100.0) as f32
}

/// The I/O side: reads the process table through sysinfo.
struct Probe {
    sys: System,
    me: Pid,
    walk: TreeWalk,
    /// The tree at the previous sample: refreshed once more so sysinfo drops exited children
    /// (it only forgets processes it is asked about), which keeps its table from growing by
    /// one entry per batch.
    previous_tree: Vec<Pid>,
    logical_cpus: u32,
    cpu_seen: HashMap<ProcKey, u64>,
    last_at: Instant,
    started: Instant,
}

impl Probe {
    fn new() -> Result<Self, SamplerError> {
        let me = sysinfo::get_current_pid().map_err(SamplerError::Unsupported)?;
        let mut sys = System::new().map_err(SamplerError::Unsupported)?;
        sys.refresh_cpu_list(CpuRefreshKind::nothing());
        let logical_cpus = match u32::try_from(sys.cpus().len()) {
            Ok(n) if n > 0 => n,
            _ => std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
        };
        let walk = TreeWalk::detect(me);
        tracing::debug!(?walk, logical_cpus, "resource sampler ready");
        let now = Instant::now();
        Ok(Self {
            sys,
            me,
            walk,
            previous_tree: Vec::new(),
            logical_cpus,
            cpu_seen: HashMap::new(),
            last_at: now,
            started: now,
        })
    }

    /// Refresh the tree and turn it into a sample. The first call only sets the CPU baseline
    /// (its CPU fields are meaningless and it is not recorded).
    fn sample(&mut self) -> Sample {
        let me = self.me.as_u32();
        let tree = match &self.walk {
            TreeWalk::ChildrenFiles(proc) => walk(me, |p, out| children_from_proc(proc, p, out)),
            TreeWalk::FullScan => {
                // Parent pids only: memory and CPU are read for the tree alone below. Tasks
                // (threads) are left out: they share their process's memory.
                self.sys.refresh_processes_specifics(
                    ProcessesToUpdate::All,
                    true,
                    ProcessRefreshKind::nothing().without_tasks(),
                );
                let parents = self
                    .sys
                    .processes()
                    .iter()
                    .filter(|(_, p)| p.thread_kind().is_none())
                    .filter_map(|(pid, p)| p.parent().map(|pp| (pid.as_u32(), pp.as_u32())));
                descendants(me, parents)
            }
        };
        let mut pids: Vec<Pid> = tree.iter().map(|&p| Pid::from_u32(p)).collect();
        pids.push(self.me);
        let mut refresh = pids.clone();
        refresh.append(&mut self.previous_tree);
        self.sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&refresh),
            true,
            ProcessRefreshKind::nothing()
                .with_memory()
                .with_cpu()
                .without_tasks(),
        );
        self.previous_tree = pids.clone();
        self.sys
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let now = Instant::now();
        let span = now.duration_since(self.last_at);
        self.last_at = now;

        let mut seen = HashMap::with_capacity(pids.len());
        let (mut self_rss, mut child_rss, mut self_cpu_ms, mut child_cpu_ms) = (0, 0, 0, 0);
        for pid in &pids {
            let Some(p) = self.sys.process(*pid) else {
                continue; // exited between the two passes
            };
            let key = (pid.as_u32(), p.start_time());
            let cpu_ms = cpu_delta_ms(&self.cpu_seen, key, p.accumulated_cpu_time());
            seen.insert(key, p.accumulated_cpu_time());
            if *pid == self.me {
                self_rss = p.memory();
                self_cpu_ms = cpu_ms;
            } else {
                child_rss += p.memory();
                child_cpu_ms += cpu_ms;
            }
        }
        self.cpu_seen = seen;
        Sample {
            at_ms: u64::try_from(now.duration_since(self.started).as_millis()).unwrap_or(u64::MAX),
            self_rss,
            child_rss,
            self_cpu_pct: per_machine_pct(self_cpu_ms, span, self.logical_cpus),
            child_cpu_pct: per_machine_pct(child_cpu_ms, span, self.logical_cpus),
            available_memory: self.sys.available_memory(),
        }
    }
}

/// What the sampler thread and the callers share; every access is a short critical section.
#[derive(Debug, Default)]
struct State {
    total: Aggregates,
    window: Aggregates,
    latest: Option<Sample>,
    recent: VecDeque<Sample>,
    overhead: Duration,
}

impl State {
    fn record(&mut self, s: Sample, cost: Duration) {
        self.total.record(&s);
        self.window.record(&s);
        self.latest = Some(s);
        if self.recent.len() == RECENT_CAPACITY {
            self.recent.pop_front();
        }
        self.recent.push_back(s);
        self.overhead += cost;
    }
}

/// Samples the process tree on a background thread until stopped (or dropped).
#[derive(Debug)]
pub struct Sampler {
    state: Arc<Mutex<State>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    interval: Duration,
    logical_cpus: u32,
}

impl Sampler {
    /// Start sampling every `interval` ([`DEFAULT_INTERVAL`] is a good choice). Fails only
    /// when the platform has no process information or a thread cannot be spawned; callers
    /// that treat monitoring as best-effort can log the error and carry on without it.
    pub fn start(interval: Duration) -> Result<Sampler, SamplerError> {
        Self::start_with(interval, None)
    }

    /// `walk` overrides the detected tree walk (tests exercise both).
    fn start_with(interval: Duration, walk: Option<TreeWalk>) -> Result<Sampler, SamplerError> {
        // A zero interval would spin a core; 10 ms is already below the kernel's CPU tick.
        let interval = interval.max(Duration::from_millis(10));
        let mut probe = Probe::new()?;
        if let Some(w) = walk {
            probe.walk = w;
        }
        let logical_cpus = probe.logical_cpus;
        let state = Arc::new(Mutex::new(State::default()));
        let (stop_tx, stop_rx) = mpsc::channel();
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("lakesync-sampler".into())
            .spawn(move || {
                let t = Instant::now();
                let _baseline = probe.sample();
                lock(&shared).overhead += t.elapsed();
                run(probe, &shared, &stop_rx, interval);
            })
            .map_err(SamplerError::Spawn)?;
        Ok(Sampler {
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
            interval,
            logical_cpus,
        })
    }

    /// The run so far.
    pub fn summary(&self) -> ResourceSummary {
        lock(&self.state)
            .total
            .summary(self.interval, self.logical_cpus)
    }

    /// Peaks since the previous call (or since start), then start a new window. Call it at
    /// each batch boundary.
    pub fn take_window(&self) -> Window {
        let mut st = lock(&self.state);
        let w = st.window.window(st.latest.as_ref());
        st.window = Aggregates::default();
        w
    }

    pub fn latest(&self) -> Option<Sample> {
        lock(&self.state).latest
    }

    /// The last [`RECENT_CAPACITY`] samples, oldest first.
    pub fn recent(&self) -> Vec<Sample> {
        lock(&self.state).recent.iter().copied().collect()
    }

    /// Wall time the sampler thread spent reading and aggregating (not sleeping): its own
    /// cost, reported so it can be subtracted or at least seen.
    pub fn sampling_overhead(&self) -> Duration {
        lock(&self.state).overhead
    }

    /// Stop the thread (after one last sample, so short runs still get a reading) and return
    /// the whole-run summary.
    pub fn stop(mut self) -> ResourceSummary {
        self.shutdown();
        self.summary()
    }

    fn shutdown(&mut self) {
        // Dropping the sender wakes the thread at once (Disconnected).
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            // A panicked sampler thread only loses samples; the summary so far stands.
            let _ = t.join();
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // The critical sections cannot leave the state half-updated, so a poisoned lock is still
    // good data.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn run(mut probe: Probe, shared: &Mutex<State>, stop: &mpsc::Receiver<()>, interval: Duration) {
    let mut next = Instant::now() + interval;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        let stopping = match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        if stopping && probe.last_at.elapsed() < MIN_FINAL_SPAN {
            return;
        }
        let t = Instant::now();
        let s = probe.sample();
        lock(shared).record(s, t.elapsed());
        if stopping {
            return;
        }
        // Fixed-rate ticks; after a stall (suspended machine) skip the missed ones rather
        // than sampling in a burst.
        next += interval;
        let now = Instant::now();
        if next <= now {
            next = now + interval;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};

    fn sample(self_rss: u64, child_rss: u64, self_cpu: f32, child_cpu: f32) -> Sample {
        Sample {
            self_rss,
            child_rss,
            self_cpu_pct: self_cpu,
            child_cpu_pct: child_cpu,
            ..Sample::default()
        }
    }

    #[test]
    fn aggregates_keep_peaks_and_mean() {
        let mut a = Aggregates::default();
        a.record(&sample(10, 100, 1.0, 9.0));
        a.record(&sample(30, 50, 2.0, 28.0));
        a.record(&sample(20, 0, 0.0, 0.0));
        assert_eq!(a.self_rss_peak, 30);
        assert_eq!(a.child_rss_peak, 100);
        // 110 and 80 at the same instants: the total peak is not the sum of the peaks.
        assert_eq!(a.total_rss_peak, 110);
        assert_eq!(a.cpu_peak, 30.0);
        assert!((a.cpu_avg() - 40.0 / 3.0).abs() < 1e-4);
        let s = a.summary(Duration::from_millis(250), 4);
        assert_eq!((s.samples, s.interval_ms, s.logical_cpus), (3, 250, 4));
    }

    #[test]
    fn empty_window_repeats_the_latest_sample() {
        let a = Aggregates::default();
        assert_eq!(a.window(None), Window::default());
        let w = a.window(Some(&sample(5, 7, 1.0, 2.0)));
        assert_eq!(w.rss_peak_bytes, 12);
        assert_eq!(w.cpu_avg_pct, 3.0);
        assert_eq!(w.samples, 0);
    }

    #[test]
    fn tree_walk_finds_grandchildren_only_below_root() {
        let pairs = [
            (10, 1),
            (11, 10),
            (12, 11),
            (13, 12),
            (20, 1),
            (21, 20),
            (14, 10),
        ];
        let mut d = descendants(10, pairs);
        d.sort_unstable();
        assert_eq!(d, vec![11, 12, 13, 14]);
        assert!(descendants(99, pairs).is_empty());
        // A cycle (recycled pids) terminates.
        let mut c = descendants(1, [(2, 1), (3, 2), (2, 3)]);
        c.sort_unstable();
        assert_eq!(c, vec![2, 3]);
    }

    #[test]
    fn children_files_are_followed_through_every_thread() {
        let proc = tempfile::tempdir().expect("tempdir");
        let put = |pid: u32, tid: u32, children: &str| {
            let dir = proc.path().join(format!("{pid}/task/{tid}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("children"), children).expect("write");
        };
        // lakesync (100) forked 200 from its main thread and 201, 202 from a worker thread;
        // 200 has a child 300; 201 exited (no directory left).
        put(100, 100, "200 ");
        put(100, 101, "201 202 ");
        put(200, 200, "300 ");
        put(202, 202, "");
        put(300, 300, "");
        put(999, 999, "100 ");
        let mut d = walk(100, |p, out| children_from_proc(proc.path(), p, out));
        d.sort_unstable();
        assert_eq!(d, vec![200, 201, 202, 300]);
    }

    #[test]
    fn cpu_accounting() {
        let prev = HashMap::from([((7, 100), 500)]);
        assert_eq!(cpu_delta_ms(&prev, (7, 100), 750), 250);
        // Same pid, different start time: a new process, counted from zero.
        assert_eq!(cpu_delta_ms(&prev, (7, 200), 40), 40);
        assert_eq!(cpu_delta_ms(&prev, (8, 100), 0), 0);
        // 250 ms of CPU over 250 ms on 2 CPUs: half the machine.
        assert_eq!(per_machine_pct(250, Duration::from_millis(250), 2), 50.0);
        assert_eq!(
            per_machine_pct(10_000, Duration::from_millis(250), 2),
            100.0
        );
        assert_eq!(per_machine_pct(10, Duration::ZERO, 2), 0.0);
    }

    #[test]
    fn recent_is_bounded() {
        let mut st = State::default();
        for i in 0..(RECENT_CAPACITY as u64 + 5) {
            st.record(
                Sample {
                    at_ms: i,
                    ..Sample::default()
                },
                Duration::ZERO,
            );
        }
        assert_eq!(st.recent.len(), RECENT_CAPACITY);
        assert_eq!(st.recent.front().map(|s| s.at_ms), Some(5));
        assert_eq!(st.total.samples, RECENT_CAPACITY as u64 + 5);
    }

    /// Runs `test` with both ways of finding the tree (whatever this kernel offers: `None`
    /// detects it; a full scan), at the same time.
    fn with_each_walk(test: fn(Option<TreeWalk>)) {
        std::thread::scope(|s| {
            for w in [None, Some(TreeWalk::FullScan)] {
                s.spawn(move || test(w));
            }
        });
    }

    /// Spawns `sh -c script`, stdin null.
    fn spawn_sh(script: &str) -> Child {
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sh")
    }

    /// Kills `child` and reaps it.
    fn kill(mut child: Child) {
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn sees_children_and_grandchildren() {
        with_each_walk(sees_children_and_grandchildren_with);
    }

    /// Spawns `sh`, which runs a pipeline whose `tail` (a grandchild) holds ~30 MB; the
    /// sampler must see memory below lakesync's direct child.
    fn sees_children_and_grandchildren_with(walk: Option<TreeWalk>) {
        let sampler = Sampler::start_with(Duration::from_millis(20), walk).expect("sampler starts");
        // `tail -c 30000000` keeps the last 30 MB in memory until its input ends; `sleep`
        // keeps the pipeline alive long enough to be seen.
        let child =
            spawn_sh("(head -c 30000000 /dev/zero; sleep 0.6) | tail -c 30000000 > /dev/null");
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut peak_child = 0;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(40));
            if let Some(s) = sampler.latest() {
                peak_child = peak_child.max(s.child_rss);
                assert!(s.self_rss > 0, "self RSS is read");
                assert!(s.available_memory > 0, "available memory is read");
            }
            if peak_child > 25_000_000 {
                break;
            }
        }
        kill(child);
        let w = sampler.take_window();
        let summary = sampler.stop();
        // sh itself is ~1 MB: only the grandchild `tail` can account for 25 MB.
        assert!(
            peak_child > 25_000_000,
            "grandchild memory seen: peak child RSS {peak_child}"
        );
        assert!(w.samples > 0 && w.child_rss_peak_bytes >= peak_child);
        assert!(summary.rss_peak_bytes > 0);
        assert!(summary.total_rss_peak_bytes >= peak_child);
        assert!(summary.samples >= 1);
        assert!(summary.logical_cpus >= 1);
    }

    #[test]
    fn sees_child_cpu() {
        with_each_walk(sees_child_cpu_with);
    }

    /// utime + stime of `pid` in clock ticks (0 when unreadable).
    fn cpu_ticks(pid: u32) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may hold spaces) in parentheses.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        tick(11) + tick(12)
    }

    /// A busy child must show up as child CPU, even though it lives less than a second.
    fn sees_child_cpu_with(walk: Option<TreeWalk>) {
        let sampler = Sampler::start_with(Duration::from_millis(50), walk).expect("sampler starts");
        let busy = spawn_sh("while :; do :; done");
        // Wait until the child has had 0.3 s of CPU (on a loaded machine 0.4 s of wall time
        // can hold far less), at most 10 s.
        let started = std::time::Instant::now();
        while cpu_ticks(busy.id()) < 30 && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        kill(busy);
        let summary = sampler.stop();
        // 0.3 s of one core over the run: well above 1% whatever the load.
        assert!(summary.cpu_peak_pct > 1.0, "child CPU seen: {summary:?}");
    }

    /// Not a correctness test: prints what one sample costs (`cargo test -- --ignored
    /// --nocapture sampler_overhead`).
    #[test]
    #[ignore = "measurement, prints numbers"]
    fn sampler_overhead() {
        fn cpu_time() -> Duration {
            let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
            // SAFETY: getrusage fills the struct it is given.
            let ru = unsafe {
                libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
                ru.assume_init()
            };
            let tv = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
            };
            tv(ru.ru_utime) + tv(ru.ru_stime)
        }
        let me = sysinfo::get_current_pid().expect("pid");
        for walk in [TreeWalk::detect(me), TreeWalk::FullScan] {
            let before = cpu_time();
            let sampler = Sampler::start_with(Duration::from_millis(10), Some(walk.clone()))
                .expect("sampler starts");
            while sampler.summary().samples < 200 {
                std::thread::sleep(Duration::from_millis(20));
            }
            let overhead = sampler.sampling_overhead();
            let s = sampler.stop();
            let cpu = cpu_time() - before;
            let procs = std::fs::read_dir("/proc")
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                        .count()
                })
                .unwrap_or(0);
            let per = |d: Duration| d / u32::try_from(s.samples).unwrap_or(1);
            println!(
                "{walk:?}: {} samples, {procs} processes on the machine: wall in sampler {:?} ({:?}/sample), process CPU {:?} ({:?}/sample); at 250 ms that is {:.3}% of one core",
                s.samples,
                overhead,
                per(overhead),
                cpu,
                per(cpu),
                per(cpu).as_secs_f64() / 0.250 * 100.0
            );
        }
    }
}
