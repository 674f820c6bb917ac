//! What running produces, as plain data: the final state of an object that did not make
//! it, and the counters folded from attempts into batches and into the run. The report
//! reads these; nothing here runs anything.

use crate::s5cmd::ErrorClass;

/// The final state of one object that did not make it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// Destination key.
    pub key: String,
    pub source: String,
    pub error: String,
    pub class: ErrorClass,
    pub attempts: u32,
}

/// Object-level operations, by kind (listings for planning are counted elsewhere).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpCounts {
    /// Server-side CopyObject requests issued (one per object, retries included).
    pub copy: u64,
    /// Folder listings done by wildcard folder copies (one LIST request per folder line).
    pub list: u64,
    /// Download lines issued (staged).
    pub download: u64,
    /// Local size checks of downloaded files against the listing (staged).
    pub stat: u64,
    /// SHA-256 verifications against .CHECKSUM (staged).
    pub verify: u64,
    /// Upload lines issued (staged).
    pub upload: u64,
    /// Local files removed after upload (staged).
    pub cleanup: u64,
}

impl OpCounts {
    pub fn total(&self) -> u64 {
        self.copy + self.list + self.download + self.stat + self.verify + self.upload + self.cleanup
    }

    /// Times object bytes crossed the network.
    pub fn transfers(&self) -> u64 {
        self.copy + self.download + self.upload
    }
}

add_assign_fields!(OpCounts {
    copy,
    list,
    download,
    stat,
    verify,
    upload,
    cleanup
});

/// The counters of running command lines, folded upward with `+=`: from one attempt loop
/// into a staged part, a batch, the run (ripgrep's `Stats`). Sums add; `attempts` (the most
/// any one line took) keeps the larger; the flags are or-ed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Object operations by kind (the caller maps an attempt loop's lines to a kind).
    pub ops: OpCounts,
    /// Object attempts after the first.
    pub retried: u64,
    /// Errors that were throttling (SlowDown / 503).
    pub throttled: u64,
    /// s5cmd processes started.
    pub processes: u64,
    /// Lines s5cmd printed that were not the expected JSON.
    pub unparsed: u64,
    /// Success lines for objects that were not planned (a folder copy met objects that
    /// appeared after the listing).
    pub unplanned: u64,
    /// Zips verified against their `.CHECKSUM` / uploaded without one (staged).
    pub verified: u64,
    pub unverified: u64,
    /// Bytes downloaded to local disk (staged).
    pub local_bytes_written: u64,
    /// Objects copied by the staged path after a direct failure (auto mode).
    pub fallback: u64,
    /// Objects copied server-side / that went the staged way.
    pub direct_files: u64,
    pub staged_files: u64,
    /// The most attempts any one line took.
    pub attempts: u32,
    pub interrupted: bool,
    pub timed_out: bool,
}

add_assign_fields!(Counters {
    ops,
    retried,
    throttled,
    processes,
    unparsed,
    unplanned,
    verified,
    unverified,
    local_bytes_written,
    fallback,
    direct_files,
    staged_files,
} max { attempts } or { interrupted, timed_out });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_counts_add_up() {
        let mut a = OpCounts {
            copy: 1,
            ..Default::default()
        };
        a += OpCounts {
            download: 1,
            stat: 1,
            verify: 1,
            upload: 1,
            cleanup: 1,
            copy: 0,
            list: 0,
        };
        assert_eq!(a.total(), 6);
        assert_eq!(a.transfers(), 3);
    }

    #[test]
    fn counters_fold_sums_max_and_flags() {
        let mut a = Counters {
            retried: 2,
            attempts: 3,
            processes: 1,
            ..Default::default()
        };
        a += Counters {
            retried: 1,
            attempts: 2,
            processes: 2,
            interrupted: true,
            ops: OpCounts {
                copy: 4,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!((a.retried, a.attempts, a.processes), (3, 3, 3));
        assert!(a.interrupted && !a.timed_out);
        assert_eq!(a.ops.copy, 4);
    }
}
