//! What a run costs at AWS list prices: its S3 requests by class and the bytes that cross
//! regions, priced with a [`PriceTable`] into an estimate in USD and USD per file processed
//! (spec 5.1.1, "cost per file processed"). Pure: counts in, dollars out.
//!
//! Billing model (AWS, see the README's "Cost" section):
//! - requests are billed to the owner of the bucket they are sent to (no bucket here is
//!   Requester Pays: the Binance archive is read anonymously, which Requester Pays forbids);
//! - CopyObject is a PUT-class request on the destination bucket; within a region its bytes
//!   are free, across regions they are billed as transfer out of the source's region;
//! - a staged object is a GET on the source and a PUT on the destination; above s5cmd's part
//!   size (50 MiB) the download is one ranged GET per part and the upload a multipart upload
//!   (create + one PUT per part + complete, all PUT-class);
//! - bytes leaving a bucket's region are billed to that bucket's owner: the source's.
//!
//! lakesync's host is assumed to run in AWS, in the destination's region, unless the price
//! table says `staged_via_internet` (staged downloads then leave AWS as internet egress).

use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// s5cmd's default `--part-size` (lakesync passes none): uploads and downloads above it go
/// in parts of this size.
pub const PART_SIZE: u64 = 50 * 1024 * 1024;
/// The largest object one CopyObject can copy; larger ones go staged.
pub const COPY_OBJECT_LIMIT: u64 = 5 * 1024 * 1024 * 1024;
/// AWS bills transfer per GB of 2^30 bytes.
const GB: f64 = (1u64 << 30) as f64;

/// Prices of S3 requests and transfer, in USD. The defaults ([`PriceTable::default`]) are
/// AWS's list prices for S3 Standard in us-east-1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceTable {
    /// What the table is (shown in reports and plans).
    pub name: String,
    /// When its prices were taken.
    pub as_of: String,
    /// Per 1,000 PUT, COPY, POST and LIST requests.
    pub put_per_1000: f64,
    /// Per 1,000 GET, HEAD and all other requests.
    pub get_per_1000: f64,
    /// Per GB transferred out of a region to another AWS region.
    pub inter_region_per_gb: f64,
    /// Per GB transferred out of AWS to the internet.
    pub internet_out_per_gb: f64,
    /// lakesync runs outside AWS: staged downloads leave AWS as internet egress (instead of
    /// reaching a host in the destination's region).
    pub staged_via_internet: bool,
}

/// The defaults' name and date (the README says where they were read).
pub const DEFAULT_NAME: &str = "aws-us-east-1-list";
pub const DEFAULT_AS_OF: &str = "2026-06";

impl Default for PriceTable {
    fn default() -> Self {
        Self {
            name: DEFAULT_NAME.to_string(),
            as_of: DEFAULT_AS_OF.to_string(),
            put_per_1000: 0.005,
            get_per_1000: 0.0004,
            inter_region_per_gb: 0.02,
            internet_out_per_gb: 0.09,
            staged_via_internet: false,
        }
    }
}

impl PriceTable {
    /// Read a price table from TOML (`origin` names it in errors). Keys left out keep the
    /// defaults; unknown keys and prices that are negative or not numbers are refused.
    pub fn parse(text: &str, origin: &str) -> Result<Self, Error> {
        let hint = "write TOML with any of: name, as_of, put_per_1000, get_per_1000, \
                    inter_region_per_gb, internet_out_per_gb (USD, >= 0), staged_via_internet \
                    (true/false); e.g. put_per_1000 = 0.005";
        let mut table: Self = toml::from_str(text).map_err(|e: toml::de::Error| {
            Error::usage(
                format!(
                    "invalid --price-table value {origin:?}: {}",
                    e.message().trim_end()
                ),
                hint,
            )
        })?;
        for (key, value) in [
            ("put_per_1000", table.put_per_1000),
            ("get_per_1000", table.get_per_1000),
            ("inter_region_per_gb", table.inter_region_per_gb),
            ("internet_out_per_gb", table.internet_out_per_gb),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(Error::usage(
                    format!(
                        "invalid --price-table value {origin:?}: {key} = {value} is not a price"
                    ),
                    format!("set {key} to a number of USD, 0 or more, e.g. {key} = 0.005"),
                ));
            }
        }
        if table.name == DEFAULT_NAME {
            // A file that changes prices without naming itself is not AWS's list.
            table.name = origin.to_string();
        }
        Ok(table)
    }
}

/// Requests sent to one bucket, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideRequests {
    /// CopyObject (PUT-class).
    pub copy: u64,
    /// PutObject, and multipart create / part / complete (PUT-class).
    pub put: u64,
    /// ListObjectsV2 pages (PUT-class).
    pub list: u64,
    /// GetObject, one per part of a ranged download (GET-class).
    pub get: u64,
    /// HeadBucket / HeadObject (GET-class).
    pub head: u64,
}

impl SideRequests {
    pub fn put_class(&self) -> u64 {
        self.copy + self.put + self.list
    }

    pub fn get_class(&self) -> u64 {
        self.get + self.head
    }

    fn usd(&self, p: &PriceTable) -> f64 {
        self.put_class() as f64 / 1000.0 * p.put_per_1000
            + self.get_class() as f64 / 1000.0 * p.get_per_1000
    }
}

add_assign_fields!(SideRequests {
    copy,
    put,
    list,
    get,
    head
});

/// Requests by bucket (who is billed) and their class totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requests {
    pub source: SideRequests,
    pub dest: SideRequests,
    /// PUT, COPY, POST and LIST requests on both buckets.
    pub put_class: u64,
    /// GET, HEAD and other requests on both buckets.
    pub get_class: u64,
}

impl Requests {
    pub fn new(source: SideRequests, dest: SideRequests) -> Self {
        Self {
            source,
            dest,
            put_class: source.put_class() + dest.put_class(),
            get_class: source.get_class() + dest.get_class(),
        }
    }
}

impl AddAssign for Requests {
    fn add_assign(&mut self, o: Self) {
        let Requests {
            source,
            dest,
            put_class: _,
            get_class: _,
        } = o;
        self.source += source;
        self.dest += dest;
        *self = Self::new(self.source, self.dest);
    }
}

/// Sizes of objects, as requests count them: parts of s5cmd's part size, and the objects
/// above it (a multipart upload adds a create and a complete).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub objects: u64,
    pub bytes: u64,
    /// Parts of [`PART_SIZE`], at least one per object.
    pub parts: u64,
    /// Objects above [`PART_SIZE`].
    pub multipart: u64,
}

impl Tally {
    fn add(&mut self, size: u64) {
        self.objects += 1;
        self.bytes += size;
        self.parts += size.div_ceil(PART_SIZE).max(1);
        self.multipart += u64::from(size > PART_SIZE);
    }

    /// Ranged GETs to download every object.
    pub fn gets(&self) -> u64 {
        self.parts
    }

    /// PUT-class requests to upload every object.
    pub fn puts(&self) -> u64 {
        self.parts + 2 * self.multipart
    }
}

/// The planned objects' sizes: all of them, and those no CopyObject can copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    pub all: Tally,
    pub over_copy_limit: Tally,
}

impl Sizes {
    pub fn add(&mut self, size: u64) {
        self.all.add(size);
        if size > COPY_OBJECT_LIMIT {
            self.over_copy_limit.add(size);
        }
    }
}

add_assign_fields!(Tally {
    objects,
    bytes,
    parts,
    multipart
});

/// Where the bytes go: each bucket's region (None: not known) and the price table's host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    pub source_region: Option<String>,
    pub dest_region: Option<String>,
    pub staged_via_internet: bool,
}

impl Route {
    /// Whether the two buckets are in different regions (None: a region is not known).
    pub fn crosses(&self) -> Option<bool> {
        Some(self.source_region.as_ref()? != self.dest_region.as_ref()?)
    }

    fn unknown(&self) -> Option<String> {
        let missing: Vec<&str> = [
            ("--source-region", &self.source_region),
            ("--dest-region", &self.dest_region),
        ]
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(flag, _)| *flag)
        .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "a bucket's region is not known: bytes across regions are not counted nor priced (pass {})",
                missing.join(" and ")
            )
        })
    }
}

/// The price table an estimate used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceRef {
    pub name: String,
    pub as_of: String,
}

/// The report's `cost` object (and each strategy's estimate in `plan`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub prices: PriceRef,
    pub source_region: Option<String>,
    pub dest_region: Option<String>,
    pub requests: Requests,
    /// Bytes that crossed from the source's region to the destination's (None: a region
    /// is not known).
    pub bytes_cross_region: Option<u64>,
    /// Bytes that left AWS for the internet (staged, with `staged_via_internet`).
    pub bytes_out_to_internet: u64,
    pub usd_requests: f64,
    /// Transfer, as far as it is known (cross-region bytes with a region unknown are not).
    pub usd_transfer: f64,
    pub usd_total: f64,
    /// What the source bucket's owner is billed: its requests and the bytes leaving its region.
    pub usd_source_owner: f64,
    /// What the destination bucket's owner is billed: its requests.
    pub usd_dest_owner: f64,
    /// Files processed (copied + failed; in `plan`, planned).
    pub files: u64,
    pub usd_per_file: f64,
    /// What the estimate leaves out, when something is not known.
    pub note: Option<String>,
}

/// Bytes moved by each path: server-side copies, and staged (downloaded and uploaded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    pub direct: u64,
    pub staged: u64,
}

/// Price requests and moved bytes.
pub fn estimate(
    requests: Requests,
    moved: Moved,
    files: u64,
    prices: &PriceTable,
    route: &Route,
) -> Estimate {
    let (staged_cross, internet) = if prices.staged_via_internet {
        (0, moved.staged)
    } else {
        (moved.staged, 0)
    };
    let bytes_cross_region = match route.crosses() {
        Some(true) => Some(moved.direct + staged_cross),
        Some(false) => Some(0),
        // With the host outside AWS, a staged run crosses no region whatever they are.
        None if moved.direct + staged_cross == 0 => Some(0),
        None => None,
    };
    let usd_transfer = bytes_cross_region.unwrap_or(0) as f64 / GB * prices.inter_region_per_gb
        + internet as f64 / GB * prices.internet_out_per_gb;
    let source_requests = requests.source.usd(prices);
    let dest_requests = requests.dest.usd(prices);
    let usd_total = source_requests + dest_requests + usd_transfer;
    Estimate {
        prices: PriceRef {
            name: prices.name.clone(),
            as_of: prices.as_of.clone(),
        },
        source_region: route.source_region.clone(),
        dest_region: route.dest_region.clone(),
        requests,
        bytes_cross_region,
        bytes_out_to_internet: internet,
        usd_requests: usd(source_requests + dest_requests),
        usd_transfer: usd(usd_transfer),
        usd_total: usd(usd_total),
        usd_source_owner: usd(source_requests + usd_transfer),
        usd_dest_owner: usd(dest_requests),
        files,
        usd_per_file: per_file(usd_total, files),
        note: bytes_cross_region
            .is_none()
            .then(|| route.unknown())
            .flatten(),
    }
}

fn per_file(total: f64, files: u64) -> f64 {
    if files == 0 {
        0.0
    } else {
        usd(total / files as f64)
    }
}

/// USD rounded to 1e-9 (a single GET costs 4e-7).
fn usd(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

impl Estimate {
    /// Fold another shard's estimate in: counts and dollars add up, the per-file figure is
    /// computed again, cross-region bytes stay unknown if either is.
    pub fn merge(&mut self, o: &Estimate) {
        let Estimate {
            prices: _,
            source_region: _,
            dest_region: _,
            requests,
            bytes_cross_region,
            bytes_out_to_internet,
            usd_requests,
            usd_transfer,
            usd_total,
            usd_source_owner,
            usd_dest_owner,
            files,
            usd_per_file: _,
            note,
        } = o;
        self.requests += *requests;
        self.bytes_cross_region = self
            .bytes_cross_region
            .zip(*bytes_cross_region)
            .map(|(a, b)| a + b);
        self.bytes_out_to_internet += bytes_out_to_internet;
        self.usd_requests = usd(self.usd_requests + usd_requests);
        self.usd_transfer = usd(self.usd_transfer + usd_transfer);
        self.usd_total = usd(self.usd_total + usd_total);
        self.usd_source_owner = usd(self.usd_source_owner + usd_source_owner);
        self.usd_dest_owner = usd(self.usd_dest_owner + usd_dest_owner);
        self.files += files;
        self.usd_per_file = per_file(self.usd_total, self.files);
        if self.note.is_none() {
            self.note.clone_from(note);
        }
    }
}

/// Listing requests measured (or, in `plan`, made by the dry run) per side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listed {
    pub source: u64,
    pub dest: u64,
}

/// What a finished run did, as the cost needs it (read off the report's counts).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunCounts {
    pub ops: crate::run::outcome::OpCounts,
    /// LIST requests of planning, discovery and validation.
    pub listed: Listed,
    /// s5cmd processes that listed one side (each may ask that bucket its region).
    pub list_processes: Listed,
    /// s5cmd processes that ran batches (each may ask both buckets their region).
    pub batch_processes: u64,
    /// Every object went staged (`--mode staged`).
    pub all_staged: bool,
    pub bytes_copied: u64,
    /// Bytes downloaded by staged copies.
    pub bytes_staged: u64,
    pub files: u64,
}

impl RunCounts {
    /// Read off a sync report's counts (the `cost` field itself aside).
    pub fn from_report(r: &crate::report::Report) -> Self {
        let l = &r.listing;
        let list_processes = Listed {
            source: l.source.processes + l.discovery.processes,
            dest: l.dest.processes + l.validation.processes,
        };
        Self {
            ops: r.operations.by_kind,
            listed: Listed {
                source: l.source.requests + l.discovery.requests,
                dest: l.dest.requests + l.validation.requests,
            },
            list_processes,
            batch_processes: r
                .operations
                .s5cmd_processes
                .saturating_sub(list_processes.source + list_processes.dest),
            all_staged: r.mode == "staged",
            bytes_copied: r.totals.bytes_copied,
            bytes_staged: r.operations.local_bytes_written,
            files: r.totals.copied + r.totals.failed,
        }
    }
}

/// The requests of a run, from its operation and listing counts. Multipart parts are not
/// counted by s5cmd's output: they come from the plan's object sizes, for the objects that
/// went staged as a whole (every object with `--mode staged`, else those over 5 GiB).
pub fn run_requests(c: &RunCounts, sizes: &Sizes, route: &Route) -> Requests {
    let ops = c.ops;
    let staged = if c.all_staged {
        sizes.all
    } else {
        sizes.over_copy_limit
    };
    let (extra_gets, extra_puts) = if ops.download + ops.upload > 0 {
        (
            staged.gets().saturating_sub(staged.objects),
            staged.puts().saturating_sub(staged.objects),
        )
    } else {
        (0, 0)
    };
    // s5cmd asks a bucket of unknown region for it once per process (HeadBucket): counted
    // for every listing process of that side, and every batch process (an upper bound: a
    // staged download process does not touch the destination).
    let heads = |known: &Option<String>, listing: u64| {
        if known.is_some() {
            0
        } else {
            listing + c.batch_processes
        }
    };
    let source = SideRequests {
        copy: 0,
        put: 0,
        list: c.listed.source + ops.list,
        get: ops.download + if ops.download > 0 { extra_gets } else { 0 },
        head: heads(&route.source_region, c.list_processes.source),
    };
    let dest = SideRequests {
        copy: ops.copy,
        put: ops.upload + if ops.upload > 0 { extra_puts } else { 0 },
        list: c.listed.dest,
        get: 0,
        head: heads(&route.dest_region, c.list_processes.dest),
    };
    Requests::new(source, dest)
}

/// The cost of a finished run.
pub fn of_run(c: &RunCounts, sizes: &Sizes, prices: &PriceTable, route: &Route) -> Estimate {
    let requests = run_requests(c, sizes, route);
    let moved = Moved {
        direct: c.bytes_copied.saturating_sub(c.bytes_staged),
        staged: c.bytes_staged,
    };
    estimate(requests, moved, c.files, prices, route)
}

/// What a plan would cost each way: `direct` (server-side copies; objects over 5 GiB go
/// staged, as `--mode auto` sends them) and `staged` (every object downloaded and uploaded).
/// Both include the listings the dry run made and one validation LIST per 1,000 objects;
/// not the HeadBucket region lookups nor a folder copy's LIST (at most 1 in 50 objects).
pub fn of_plan(
    sizes: &Sizes,
    listed: Listed,
    prices: &PriceTable,
    route: &Route,
) -> (Estimate, Estimate) {
    let all = sizes.all;
    let big = sizes.over_copy_limit;
    let validation = all.objects.div_ceil(1000);
    let listing = |get: u64, put: u64, copy: u64| {
        Requests::new(
            SideRequests {
                list: listed.source,
                get,
                ..Default::default()
            },
            SideRequests {
                list: listed.dest + validation,
                put,
                copy,
                ..Default::default()
            },
        )
    };
    let direct = estimate(
        listing(big.gets(), big.puts(), all.objects - big.objects),
        Moved {
            direct: all.bytes - big.bytes,
            staged: big.bytes,
        },
        all.objects,
        prices,
        route,
    );
    let staged = estimate(
        listing(all.gets(), all.puts(), 0),
        Moved {
            direct: 0,
            staged: all.bytes,
        },
        all.objects,
        prices,
        route,
    );
    (direct, staged)
}

/// The two estimates side by side, for `lakesync plan`'s table.
pub fn render_side_by_side(direct: &Estimate, staged: &Estimate) -> String {
    use std::fmt::Write as _;
    let region = |r: &Option<String>| r.clone().unwrap_or_else(|| "unknown".to_string());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "cost of the {} planned object(s), estimated at {} prices as of {} (source region {}, destination region {}):",
        direct.files,
        direct.prices.name,
        direct.prices.as_of,
        region(&direct.source_region),
        region(&direct.dest_region),
    );
    let _ = writeln!(s, "  {:<28} {:>14} {:>14}", "", "direct", "staged");
    // Each row is one figure of an estimate, shown for both strategies.
    type Figure = fn(&Estimate) -> String;
    let rows: [(&str, Figure); 8] = [
        ("PUT/COPY/POST/LIST requests", |e| {
            e.requests.put_class.to_string()
        }),
        ("GET/HEAD requests", |e| e.requests.get_class.to_string()),
        ("bytes across regions", |e| {
            e.bytes_cross_region
                .map_or_else(|| "unknown".to_string(), |b| b.to_string())
        }),
        ("bytes out to the internet", |e| {
            e.bytes_out_to_internet.to_string()
        }),
        ("USD, source owner", |e| {
            format!("{:.6}", e.usd_source_owner)
        }),
        ("USD, destination owner", |e| {
            format!("{:.6}", e.usd_dest_owner)
        }),
        ("USD total", |e| format!("{:.6}", e.usd_total)),
        ("USD per file", |e| format!("{:.9}", e.usd_per_file)),
    ];
    for (name, figure) in rows {
        let (d, st) = (figure(direct), figure(staged));
        let _ = writeln!(s, "  {name:<28} {d:>14} {st:>14}");
    }
    if let Some(n) = &direct.note {
        let _ = writeln!(s, "  note: {n}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(source: Option<&str>, dest: Option<&str>) -> Route {
        Route {
            source_region: source.map(String::from),
            dest_region: dest.map(String::from),
            staged_via_internet: false,
        }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn classes_and_prices() {
        let r = Requests::new(
            SideRequests {
                list: 2,
                get: 10,
                head: 1,
                ..Default::default()
            },
            SideRequests {
                copy: 1000,
                put: 5,
                list: 3,
                ..Default::default()
            },
        );
        assert_eq!((r.put_class, r.get_class), (1010, 11));
        let p = PriceTable::default();
        let e = estimate(r, Moved::default(), 1000, &p, &route(Some("a"), Some("a")));
        // 1010 PUT-class at 0.005/1000 + 11 GET-class at 0.0004/1000.
        close(e.usd_requests, 0.00505 + 0.0000044);
        close(e.usd_dest_owner, 1008.0 / 1000.0 * 0.005);
        close(e.usd_source_owner, 0.00001 + 0.0000044);
        close(e.usd_total, e.usd_requests);
        close(e.usd_per_file, e.usd_total / 1000.0);
        assert_eq!(e.bytes_cross_region, Some(0));
        assert!(e.note.is_none());
    }

    #[test]
    fn cross_region_bytes_are_priced_and_billed_to_the_source_owner() {
        let p = PriceTable::default();
        let moved = Moved {
            direct: 3 << 30,
            staged: 1 << 30,
        };
        let e = estimate(
            Requests::default(),
            moved,
            4,
            &p,
            &route(Some("ap-northeast-1"), Some("us-east-1")),
        );
        assert_eq!(e.bytes_cross_region, Some(4 << 30));
        close(e.usd_transfer, 0.08);
        close(e.usd_source_owner, 0.08);
        close(e.usd_dest_owner, 0.0);
        close(e.usd_per_file, 0.02);
        let same = estimate(
            Requests::default(),
            moved,
            4,
            &p,
            &route(Some("x"), Some("x")),
        );
        assert_eq!((same.bytes_cross_region, same.usd_total), (Some(0), 0.0));
        // A region not known: the bytes are not guessed, and the note names the flag.
        let unknown = estimate(Requests::default(), moved, 4, &p, &route(Some("x"), None));
        assert_eq!(unknown.bytes_cross_region, None);
        assert_eq!(unknown.usd_transfer, 0.0);
        let note = unknown.note.unwrap();
        assert!(
            note.contains("--dest-region") && !note.contains("--source-region"),
            "{note}"
        );
        // A host outside AWS: staged bytes are internet egress, in any regions.
        let outside = PriceTable {
            staged_via_internet: true,
            ..PriceTable::default()
        };
        let e = estimate(
            Requests::default(),
            Moved {
                direct: 0,
                staged: 2 << 30,
            },
            1,
            &outside,
            &route(None, None),
        );
        assert_eq!(
            (e.bytes_cross_region, e.bytes_out_to_internet),
            (Some(0), 2 << 30)
        );
        close(e.usd_source_owner, 0.18);
    }

    #[test]
    fn sizes_count_parts_and_multipart_uploads() {
        let mut s = Sizes::default();
        s.add(0);
        s.add(PART_SIZE);
        s.add(PART_SIZE + 1);
        s.add(COPY_OBJECT_LIMIT + 1);
        let big_parts = (COPY_OBJECT_LIMIT + 1).div_ceil(PART_SIZE);
        assert_eq!(s.all.objects, 4);
        assert_eq!(s.all.parts, 1 + 1 + 2 + big_parts);
        assert_eq!(s.all.multipart, 2);
        assert_eq!(s.all.gets(), s.all.parts);
        assert_eq!(s.all.puts(), s.all.parts + 4);
        assert_eq!(s.over_copy_limit.objects, 1);
        assert_eq!(s.over_copy_limit.puts(), big_parts + 2);
    }

    #[test]
    fn run_requests_map_operations_onto_buckets() {
        use crate::run::outcome::OpCounts;
        let mut sizes = Sizes::default();
        sizes.add(10);
        sizes.add(PART_SIZE * 2 + 1); // 3 parts: 2 extra GETs, 2 + 2 extra PUTs
        let direct = RunCounts {
            ops: OpCounts {
                copy: 2,
                list: 1,
                ..Default::default()
            },
            listed: Listed { source: 4, dest: 5 },
            list_processes: Listed { source: 1, dest: 2 },
            batch_processes: 1,
            bytes_copied: 100,
            files: 2,
            ..Default::default()
        };
        let r = run_requests(&direct, &sizes, &route(Some("s"), None));
        assert_eq!(
            r.source,
            SideRequests {
                list: 5,
                ..Default::default()
            }
        );
        assert_eq!(
            r.dest,
            SideRequests {
                copy: 2,
                list: 5,
                head: 3,
                ..Default::default()
            }
        );
        let staged = RunCounts {
            ops: OpCounts {
                download: 2,
                upload: 2,
                stat: 2,
                verify: 2,
                cleanup: 2,
                ..Default::default()
            },
            all_staged: true,
            ..direct
        };
        let r = run_requests(&staged, &sizes, &route(Some("s"), Some("d")));
        assert_eq!((r.source.get, r.dest.put, r.dest.copy), (2 + 2, 2 + 4, 0));
        assert_eq!((r.source.head, r.dest.head), (0, 0));
        // Local operations (stat, verify, cleanup) are no requests: 4 GETs, 6 PUTs, 4 + 5 LISTs.
        assert_eq!(r.put_class + r.get_class, 4 + 6 + 4 + 5);
        // In auto mode only objects over 5 GiB are known to go staged whole.
        let fallback = RunCounts {
            all_staged: false,
            ..staged
        };
        let r = run_requests(&fallback, &sizes, &route(Some("s"), Some("d")));
        assert_eq!((r.source.get, r.dest.put), (2, 2));
    }

    #[test]
    fn plan_estimates_both_strategies() {
        let mut sizes = Sizes::default();
        for _ in 0..1500 {
            sizes.add(1000);
        }
        let p = PriceTable::default();
        let listed = Listed { source: 2, dest: 2 };
        let (d, s) = of_plan(&sizes, listed, &p, &route(Some("a"), Some("b")));
        // direct: 1500 copies + 2 + 2 listing + 2 validation pages.
        assert_eq!((d.requests.put_class, d.requests.get_class), (1506, 0));
        // staged: 1500 PUTs + the same LISTs, and 1500 GETs.
        assert_eq!((s.requests.put_class, s.requests.get_class), (1506, 1500));
        assert_eq!(d.bytes_cross_region, Some(1_500_000));
        assert_eq!(s.bytes_cross_region, Some(1_500_000));
        assert!(s.usd_total > d.usd_total);
        assert_eq!(d.files, 1500);
        let text = render_side_by_side(&d, &s);
        assert!(text.contains("direct") && text.contains("staged"), "{text}");
        assert!(text.contains("1506"), "{text}");
    }

    #[test]
    fn merge_adds_up_and_keeps_unknown_unknown() {
        let p = PriceTable::default();
        let r = Requests::new(
            SideRequests::default(),
            SideRequests {
                copy: 10,
                ..Default::default()
            },
        );
        let a = estimate(
            r,
            Moved {
                direct: 5,
                staged: 0,
            },
            10,
            &p,
            &route(Some("a"), Some("b")),
        );
        let mut m = a.clone();
        m.merge(&a);
        assert_eq!(m.requests.put_class, 20);
        assert_eq!(m.bytes_cross_region, Some(10));
        assert_eq!(m.files, 20);
        close(m.usd_total, 2.0 * a.usd_total);
        close(m.usd_per_file, a.usd_per_file);
        let b = estimate(
            r,
            Moved {
                direct: 5,
                staged: 0,
            },
            10,
            &p,
            &route(None, Some("b")),
        );
        m.merge(&b);
        assert_eq!(m.bytes_cross_region, None);
        assert!(m.note.is_some());
    }

    #[test]
    fn price_tables_parse_and_refuse_bad_values() {
        let t = PriceTable::parse("put_per_1000 = 0.0054\nas_of = \"2026-01\"", "p.toml").unwrap();
        assert_eq!(t.put_per_1000, 0.0054);
        assert_eq!(t.get_per_1000, PriceTable::default().get_per_1000);
        assert_eq!((t.name.as_str(), t.as_of.as_str()), ("p.toml", "2026-01"));
        let named = PriceTable::parse("name = \"eu\"", "p.toml").unwrap();
        assert_eq!(named.name, "eu");
        for (text, needle) in [
            ("get_per_1000 = -1.0", "get_per_1000 = -1"),
            ("put_per_1000 = nan", "put_per_1000 = NaN"),
            ("put_per_1000 = \"cheap\"", "invalid type"),
            ("put_per_100 = 0.5", "put_per_100"),
            ("not toml", "p.toml"),
        ] {
            let e = PriceTable::parse(text, "p.toml").unwrap_err();
            assert!(e.message().contains(needle), "{text}: {e:?}");
            assert!(e.message().contains("--price-table"), "{e:?}");
            assert!(!e.hint().is_empty());
        }
    }
}
