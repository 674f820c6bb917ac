//! Many listings in one s5cmd process: a group of `ls` lines in one `s5cmd run` command
//! file, `--numworkers` of them in flight, their JSON lines demultiplexed back to one
//! listing per prefix.
//!
//! What the real s5cmd v2.3.0 prints for a run file of `ls` lines (checked against moto,
//! pinned by `tests/it/listing_scale.rs`):
//! - every object of every line on stdout as `{"key":"s3://B/K",...,"type":"file"}`; one
//!   line's objects come in key order, lines interleave with each other;
//! - a delimiter listing (`ls 's3://B/folder/'`, no `*`) prints each subfolder once as
//!   `{"key":"s3://B/folder/SYM/","type":"directory"}`, paging past 1,000 prefixes itself;
//! - a prefix holding nothing prints `{"operation":"ls","command":"ls s3://B/P*","error":"no
//!   object found"}` on stderr (an empty listing, not a failure); any other per-line error
//!   has the same shape with the server's message, and the command is written without
//!   quotes, so it is mapped back through our own table of `ls URL` strings;
//! - nothing marks the end of one line's listing: a prefix's listing is complete when the
//!   process has exited. So a group is collected whole (its size is bounded by the group's
//!   line count times what one narrowed prefix holds) and handed over when it ends.
//!
//! Prefixes of a group must not cover each other (none is a prefix of another, as
//! `Selection::prefixes` guarantees): each listed key then belongs to exactly one line.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io::Write as _;
use std::ops::{AddAssign, Bound};
use std::path::Path;

use crate::list::{ListError, Lister, Object};
use crate::s5cmd::cmdfile::{self, CmdFileError};
use crate::s5cmd::{ChildExit, Event, Pipe};

/// Keys per LIST page (S3's maximum, s5cmd's page size).
pub const PAGE_KEYS: u64 = 1000;

/// What one `ls` line lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LsKind {
    /// Every object under a key prefix: `ls 's3://B/PREFIX*'`.
    Objects,
    /// One level below a folder, with a delimiter: `ls 's3://B/FOLDER/'` prints the
    /// subfolders as directory entries (and objects directly in the folder).
    Folders,
}

/// The listing of one prefix of a group. Keys are full keys in the bucket.
#[derive(Debug, Clone, Default)]
pub struct PrefixListing {
    pub prefix: String,
    /// In key order, as s5cmd printed them.
    pub objects: Vec<Object>,
    /// Subfolders (full keys ending in `/`) of a [`LsKind::Folders`] line.
    pub dirs: Vec<String>,
    pub error: Option<ListError>,
}

impl PrefixListing {
    /// LIST requests this line cost: one per page of 1,000 entries, at least one.
    pub fn requests(&self) -> u64 {
        let entries = (self.objects.len() + self.dirs.len()) as u64;
        entries.div_ceil(PAGE_KEYS).max(1)
    }
}

/// What listing cost, per side; groups and stages fold into run totals with `+=`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListCounts {
    /// LIST requests (one per page of up to 1,000 entries per listed prefix).
    pub requests: u64,
    /// Objects listed (directory entries not counted).
    pub keys: u64,
    /// Prefixes listed (`ls` lines).
    pub prefixes: u64,
    /// s5cmd processes started.
    pub processes: u64,
}

impl AddAssign for ListCounts {
    fn add_assign(&mut self, o: Self) {
        self.requests += o.requests;
        self.keys += o.keys;
        self.prefixes += o.prefixes;
        self.processes += o.processes;
    }
}

impl ListCounts {
    /// The counts of a finished group (one process).
    pub fn of(listings: &[PrefixListing]) -> Self {
        Self {
            requests: listings.iter().map(PrefixListing::requests).sum(),
            keys: listings.iter().map(|l| l.objects.len() as u64).sum(),
            prefixes: listings.len() as u64,
            processes: 1,
        }
    }
}

/// Why a group cannot be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("listing prefix {key_prefix:?}: {source}")]
    CmdFile {
        key_prefix: String,
        source: CmdFileError,
    },
    #[error("prefix {inner:?} lies inside prefix {outer:?} of the same listing group")]
    Overlap { outer: String, inner: String },
    #[error("a folder listing needs a prefix ending in '/', got {0:?}")]
    NotAFolder(String),
}

/// Why a listing of grouped prefixes (discovery, a paired listing) stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GroupListError {
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Group(#[from] GroupError),
}

impl GroupListError {
    pub fn hint(&self) -> &'static str {
        match self {
            GroupListError::List(e) => e.hint(),
            GroupListError::Group(_) => "this is a bug: please report it with the command line",
        }
    }
}

/// Routes the output lines of one `s5cmd run` of `ls` lines back to their prefixes. Pure:
/// fed parsed events, it never touches a process.
#[derive(Debug)]
pub struct Demux {
    bucket: String,
    kind: LsKind,
    /// Key prefix -> index, to route each listed key to the line that listed it.
    by_prefix: BTreeMap<String, usize>,
    /// `ls URL` as s5cmd echoes it in errors -> index.
    by_command: HashMap<String, usize>,
    out: Vec<PrefixListing>,
    /// Something that belongs to no line (a garbled line, an error for an unknown command):
    /// the whole group is then in doubt.
    stray: Option<String>,
}

impl Demux {
    /// The demultiplexer and the run file text (one `ls` line per prefix, in the order
    /// given) for `key_prefixes` of `bucket`.
    pub fn new(
        bucket: &str,
        key_prefixes: &[String],
        kind: LsKind,
    ) -> Result<(Self, String), GroupError> {
        let mut by_prefix = BTreeMap::new();
        let mut by_command = HashMap::new();
        let mut text = String::new();
        for (i, p) in key_prefixes.iter().enumerate() {
            if kind == LsKind::Folders && !(p.is_empty() || p.ends_with('/')) {
                return Err(GroupError::NotAFolder(p.clone()));
            }
            let url = match kind {
                LsKind::Objects => format!("s3://{bucket}/{p}*"),
                LsKind::Folders => format!("s3://{bucket}/{p}"),
            };
            let quoted = cmdfile::quote(&url).map_err(|source| GroupError::CmdFile {
                key_prefix: p.clone(),
                source,
            })?;
            text.push_str("ls ");
            text.push_str(&quoted);
            text.push('\n');
            by_command.insert(format!("ls {url}"), i);
            by_prefix.insert(p.clone(), i);
        }
        // In byte order a covering prefix sorts right before what it covers (or before
        // something else it covers), so neighbours suffice.
        let sorted: Vec<&String> = by_prefix.keys().collect();
        for pair in sorted.windows(2) {
            if pair[1].starts_with(pair[0].as_str()) {
                return Err(GroupError::Overlap {
                    outer: pair[0].clone(),
                    inner: pair[1].clone(),
                });
            }
        }
        let out = key_prefixes
            .iter()
            .map(|p| PrefixListing {
                prefix: p.clone(),
                ..PrefixListing::default()
            })
            .collect();
        Ok((
            Self {
                bucket: bucket.to_owned(),
                kind,
                by_prefix,
                by_command,
                out,
                stray: None,
            },
            text,
        ))
    }

    fn owner(&self, key: &str) -> Option<usize> {
        let (prefix, &i) = self
            .by_prefix
            .range::<str, _>((Bound::Unbounded, Bound::Included(key)))
            .next_back()?;
        key.starts_with(prefix.as_str()).then_some(i)
    }

    fn url(&self, i: usize) -> String {
        let p = self.out.get(i).map_or("", |l| l.prefix.as_str());
        format!("s3://{}/{p}", self.bucket)
    }

    /// Take one output line.
    pub fn feed(&mut self, pipe: Pipe, event: Event) {
        match event {
            Event::Listing(e) => {
                let strip = format!("s3://{}/", self.bucket);
                let key = e.url.strip_prefix(&strip).unwrap_or(&e.url).to_owned();
                let Some(i) = self.owner(&key) else {
                    self.stray
                        .get_or_insert_with(|| format!("a listed key under no prefix: {key}"));
                    return;
                };
                let Some(l) = self.out.get_mut(i) else { return };
                if e.is_dir {
                    if self.kind == LsKind::Folders {
                        l.dirs.push(key);
                    }
                } else {
                    l.objects.push(Object {
                        last_modified: e.last_modified_ts(),
                        key,
                        size: e.size,
                        etag: e.etag,
                    });
                }
            }
            Event::Error { command, error, .. } => {
                let Some(&i) = self.by_command.get(command.as_str()) else {
                    self.stray.get_or_insert(if command.is_empty() {
                        error
                    } else {
                        format!("{command}: {error}")
                    });
                    return;
                };
                // "no object found" is an empty prefix: an empty listing.
                if error != "no object found" {
                    let url = self.url(i);
                    if let Some(l) = self.out.get_mut(i) {
                        l.error.get_or_insert(ListError::Failed { url, error });
                    }
                }
            }
            Event::Unparsed(line) if pipe == Pipe::Stderr && !line.trim().is_empty() => {
                self.stray.get_or_insert(line);
            }
            _ => {}
        }
    }

    /// The per-prefix listings once the process has ended. An interruption, a timeout, a
    /// failed start or output that belongs to no line marks every prefix of the group
    /// failed: none of them can be trusted to be complete.
    pub fn finish(mut self, exit: std::io::Result<ChildExit>) -> Vec<PrefixListing> {
        let whole_group = match exit {
            Err(e) => Some(("spawn", e.to_string())),
            Ok(x) if x.interrupted => Some(("interrupted", String::new())),
            Ok(x) if x.timed_out => Some(("failed", "timed out".to_owned())),
            Ok(_) => self.stray.take().map(|s| ("failed", s)),
        };
        if let Some((kind, error)) = whole_group {
            for i in 0..self.out.len() {
                let url = self.url(i);
                let e = match kind {
                    "spawn" => ListError::Spawn {
                        url,
                        error: error.clone(),
                    },
                    "interrupted" => ListError::Interrupted { url },
                    _ => ListError::Failed {
                        url,
                        error: error.clone(),
                    },
                };
                if let Some(l) = self.out.get_mut(i) {
                    // An interruption wins: the run is being stopped, not failing.
                    if l.error.is_none() || kind == "interrupted" {
                        l.error = Some(e);
                    }
                }
            }
        }
        self.out
    }
}

impl Lister {
    /// List every prefix of `key_prefixes` (in `bucket`) with one `s5cmd run`, `in_flight`
    /// lines at a time (`--numworkers`). The run file goes into `dir` and is removed after.
    /// Returns one listing per prefix, in the order given.
    pub async fn list_group(
        &self,
        bucket: &str,
        key_prefixes: &[String],
        kind: LsKind,
        in_flight: usize,
        dir: &Path,
    ) -> Result<Vec<PrefixListing>, GroupError> {
        let (mut demux, text) = Demux::new(bucket, key_prefixes, kind)?;
        if key_prefixes.is_empty() {
            return Ok(Vec::new());
        }
        let fail_all = |demux: Demux, e: std::io::Error| demux.finish(Err(e));
        let file = match tempfile::Builder::new()
            .prefix("ls-")
            .suffix(".txt")
            .tempfile_in(dir)
            .and_then(|mut f| {
                f.write_all(text.as_bytes())
                    .and_then(|()| f.flush())
                    .map(|()| f)
            }) {
            Ok(f) => f,
            Err(e) => return Ok(fail_all(demux, e)),
        };
        let mut args: Vec<OsString> = self.globals.args();
        args.push("--numworkers".into());
        args.push(in_flight.max(1).to_string().into());
        args.push("run".into());
        args.push(file.path().into());
        let mut running = match self.spawn(&args) {
            Ok(r) => r,
            Err(e) => return Ok(fail_all(demux, e)),
        };
        while let Some((pipe, event)) = running.events.recv().await {
            demux.feed(pipe, event);
        }
        let exit = running.wait().await;
        drop(file);
        Ok(demux.finish(exit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s5cmd::parse_line;

    fn prefixes(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    fn feed_all(d: &mut Demux, stdout: &[&str], stderr: &[&str]) {
        for l in stdout {
            d.feed(Pipe::Stdout, parse_line(l));
        }
        for l in stderr {
            d.feed(Pipe::Stderr, parse_line(l));
        }
    }

    fn exit_1() -> std::io::Result<ChildExit> {
        Ok(ChildExit {
            code: Some(1),
            ..ChildExit::default()
        })
    }

    const OBJ: &str = r#""etag":"401b30e3b8b5d629635a5c613cdb7919","last_modified":"2026-12-01T22:34:21Z","type":"file","size":2,"storage_class":"STANDARD""#;

    fn obj_line(key: &str) -> String {
        format!(r#"{{"key":"s3://bkt1/{key}",{OBJ}}}"#)
    }

    #[test]
    fn run_file_has_one_quoted_ls_line_per_prefix() {
        let (_, text) = Demux::new(
            "bkt1",
            &prefixes(&["data/a/1m/A-1m-2024-01-0", "it's/"]),
            LsKind::Objects,
        )
        .unwrap();
        assert_eq!(
            text,
            "ls 's3://bkt1/data/a/1m/A-1m-2024-01-0*'\nls 's3://bkt1/it'\\''s/*'\n"
        );
        let (_, text) = Demux::new(
            "bkt1",
            &prefixes(&["data/spot/daily/klines/"]),
            LsKind::Folders,
        )
        .unwrap();
        assert_eq!(text, "ls 's3://bkt1/data/spot/daily/klines/'\n");
    }

    #[test]
    fn bad_groups_are_refused() {
        assert!(matches!(
            Demux::new("b", &prefixes(&["a/b", "a/"]), LsKind::Objects),
            Err(GroupError::Overlap { .. })
        ));
        assert!(matches!(
            Demux::new("b", &prefixes(&["a/x"]), LsKind::Folders),
            Err(GroupError::NotAFolder(_))
        ));
        assert!(matches!(
            Demux::new("b", &prefixes(&["a\nb"]), LsKind::Objects),
            Err(GroupError::CmdFile { .. })
        ));
    }

    /// Lines exactly as the real s5cmd printed them for a run file of three `ls` lines (one
    /// prefix empty, one in a missing bucket's place), interleaved across prefixes.
    #[test]
    fn interleaved_lines_go_back_to_their_prefixes_in_key_order() {
        let ps = prefixes(&[
            "data/spot/daily/klines/AAA/1m/",
            "data/spot/daily/klines/ZZZ/1m/",
            "data/spot/daily/klines/BBB/1m/",
        ]);
        let (mut d, _) = Demux::new("bkt1", &ps, LsKind::Objects).unwrap();
        let out = [
            obj_line("data/spot/daily/klines/BBB/1m/BBB-1m-2024-01-01.zip"),
            obj_line("data/spot/daily/klines/AAA/1m/AAA-1m-2024-01-01.zip"),
            obj_line("data/spot/daily/klines/BBB/1m/BBB-1m-2024-01-02.zip"),
            obj_line("data/spot/daily/klines/AAA/1m/AAA-1m-2024-01-02.zip"),
        ];
        let out: Vec<&str> = out.iter().map(String::as_str).collect();
        feed_all(
            &mut d,
            &out,
            &[
                r#"{"operation":"ls","command":"ls s3://bkt1/data/spot/daily/klines/ZZZ/1m/*","error":"no object found"}"#,
            ],
        );
        let got = d.finish(exit_1());
        let keys = |l: &PrefixListing| -> Vec<String> {
            l.objects
                .iter()
                .map(|o| o.key.rsplit('/').next().unwrap().to_owned())
                .collect()
        };
        assert_eq!(got.len(), 3);
        assert_eq!(
            keys(&got[0]),
            ["AAA-1m-2024-01-01.zip", "AAA-1m-2024-01-02.zip"]
        );
        assert!(got[1].objects.is_empty() && got[1].error.is_none());
        assert_eq!(
            keys(&got[2]),
            ["BBB-1m-2024-01-01.zip", "BBB-1m-2024-01-02.zip"]
        );
        assert!(got.iter().all(|l| l.error.is_none()));
        assert_eq!(got[0].objects[0].size, 2);
        assert!(got[0].objects[0].last_modified.is_some());
        let c = ListCounts::of(&got);
        assert_eq!(
            c,
            ListCounts {
                requests: 3,
                keys: 4,
                prefixes: 3,
                processes: 1
            }
        );
    }

    #[test]
    fn an_error_fails_its_own_prefix_only() {
        let ps = prefixes(&["a/", "b/"]);
        let (mut d, _) = Demux::new("bkt1", &ps, LsKind::Objects).unwrap();
        let ok = obj_line("a/x.zip");
        feed_all(
            &mut d,
            &[&ok],
            &[
                r#"{"operation":"ls","command":"ls s3://bkt1/b/*","error":"AccessDenied: Access Denied status code: 403"}"#,
            ],
        );
        let got = d.finish(exit_1());
        assert!(got[0].error.is_none());
        let e = got[1].error.as_ref().unwrap();
        assert!(e.to_string().contains("s3://bkt1/b/"), "{e}");
        assert!(e.hint().contains("credentials"), "{}", e.hint());
    }

    #[test]
    fn output_belonging_to_no_line_fails_the_whole_group() {
        for stray in [
            r#"{"operation":"ls","command":"ls s3://bkt1/elsewhere/*","error":"boom"}"#,
            "panic: runtime error",
        ] {
            let (mut d, _) = Demux::new("bkt1", &prefixes(&["a/", "b/"]), LsKind::Objects).unwrap();
            feed_all(&mut d, &[], &[stray]);
            let got = d.finish(exit_1());
            assert!(got.iter().all(|l| l.error.is_some()), "{stray}");
        }
        let (mut d, _) = Demux::new("bkt1", &prefixes(&["a/"]), LsKind::Objects).unwrap();
        let outside = obj_line("z/x.zip");
        feed_all(&mut d, &[&outside], &[]);
        assert!(d.finish(exit_1())[0].error.is_some());
    }

    #[test]
    fn interruption_and_timeout_fail_every_prefix() {
        for (exit, interrupted) in [
            (
                ChildExit {
                    interrupted: true,
                    ..ChildExit::default()
                },
                true,
            ),
            (
                ChildExit {
                    timed_out: true,
                    ..ChildExit::default()
                },
                false,
            ),
        ] {
            let (d, _) = Demux::new("bkt1", &prefixes(&["a/", "b/"]), LsKind::Objects).unwrap();
            let got = d.finish(Ok(exit));
            for l in &got {
                assert_eq!(
                    matches!(l.error, Some(ListError::Interrupted { .. })),
                    interrupted
                );
                assert!(l.error.is_some());
            }
        }
    }

    #[test]
    fn folder_listings_collect_directory_entries() {
        let (mut d, _) = Demux::new(
            "bkt1",
            &prefixes(&["data/spot/daily/klines/"]),
            LsKind::Folders,
        )
        .unwrap();
        let top = obj_line("data/spot/daily/klines/top.zip");
        feed_all(
            &mut d,
            &[
                r#"{"key":"s3://bkt1/data/spot/daily/klines/AAA/","type":"directory"}"#,
                r#"{"key":"s3://bkt1/data/spot/daily/klines/BBB/","type":"directory"}"#,
                &top,
            ],
            &[],
        );
        let got = d.finish(Ok(ChildExit::default()));
        assert_eq!(
            got[0].dirs,
            ["data/spot/daily/klines/AAA/", "data/spot/daily/klines/BBB/"]
        );
        assert_eq!(got[0].objects.len(), 1);
        assert_eq!(got[0].requests(), 1);
    }

    #[test]
    fn requests_count_pages() {
        let mut l = PrefixListing::default();
        assert_eq!(l.requests(), 1);
        l.dirs = vec![String::new(); 1000];
        assert_eq!(l.requests(), 1);
        l.dirs.push(String::new());
        assert_eq!(l.requests(), 2);
    }
}
