//! Folder copies: when every object of a source folder is to be copied, one s5cmd wildcard
//! line (`cp 's3://src/dir/*' 's3://dst/dir/'`) does the work of one line per object.
//!
//! Why: s5cmd spends about 1.4 ms of CPU per `run` line on a server-side copy, against about
//! 0.6 ms per object of a wildcard copy (measured with s5cmd v2.3.0 on Garage, 2 cores;
//! see bench/README.md). On a small machine copying small files that CPU is the wall time.
//!
//! A folder is copied whole only when that copies exactly the planned objects:
//! - every object the source listing holds under the folder is in scope (selection, date
//!   range, shard) and planned for copy (nothing skipped, nothing over the server-side
//!   copy limit), and the listing covered the whole folder (a listing prefix is a prefix
//!   of the folder);
//! - the folder has no subfolder (s5cmd's `*` also matches keys below it);
//! - the folder's URL holds no wildcard or control character, and it is not the root;
//! - it holds at least `min` and at most `max` objects (the items wait here until the
//!   folder ends, so `max` bounds the memory).
//!
//! The tracker sees every source key in key order (in scope or not) and hands back what
//! to batch: single items as they become final, or a whole folder.

use crate::batch::Item;

/// Fewest objects worth one wildcard line (the wildcard costs one extra LIST request).
pub const MIN_FOLDER_OBJECTS: usize = 50;
/// Most objects held back while a folder is open.
pub const MAX_FOLDER_OBJECTS: usize = 10_000;

/// What the planner batches next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// Objects to copy one line each.
    Items(Vec<Item>),
    /// A whole folder (relative path ending in `/`) and its objects in key order.
    Folder { dir: String, items: Vec<Item> },
}

#[derive(Debug)]
struct Open {
    dir: String,
    items: Vec<Item>,
    /// Still a candidate for one wildcard line.
    whole: bool,
}

/// Groups planned copies by folder; see the module docs.
#[derive(Debug)]
pub struct FolderTracker {
    enabled: bool,
    /// Listing prefixes, relative to the source folder.
    prefixes: Vec<String>,
    /// The absolute URLs of both folders (`s3://bucket/prefix/`), for the wildcard check.
    urls: [String; 2],
    min: usize,
    max: usize,
    open: Option<Open>,
    last_key: Option<String>,
}

/// The folder part of a relative key, with its trailing `/` ("" at the root).
pub fn dir_of(key: &str) -> &str {
    key.rfind('/').map_or("", |i| &key[..=i])
}

fn wildcard_safe(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() || matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\'))
}

impl FolderTracker {
    /// `source_url` and `dest_url` are the two folders as `s3://bucket/prefix` URLs.
    pub fn new(enabled: bool, prefixes: Vec<String>, source_url: &str, dest_url: &str) -> Self {
        Self {
            enabled,
            prefixes,
            urls: [source_url.to_string(), dest_url.to_string()],
            min: MIN_FOLDER_OBJECTS,
            max: MAX_FOLDER_OBJECTS,
            open: None,
            last_key: None,
        }
    }

    /// Change the size bounds (tests).
    pub fn with_bounds(mut self, min: usize, max: usize) -> Self {
        self.min = min.max(1);
        self.max = max.max(self.min);
        self
    }

    fn folder_allowed(&self, dir: &str) -> bool {
        self.enabled
            && !dir.is_empty()
            && self.urls.iter().all(|u| wildcard_safe(u))
            && wildcard_safe(dir)
            && self.prefixes.iter().any(|p| dir.starts_with(p.as_str()))
    }

    /// The next source key, in key order. `item` is Some when the object is planned for
    /// copy; `eligible` is false when a wildcard must not carry it (out of scope, skipped,
    /// too large, unwritable key). Returns what is final so far.
    pub fn observe(&mut self, key: &str, item: Option<Item>, eligible: bool) -> Vec<Planned> {
        let mut out = Vec::new();
        let dir = dir_of(key);
        if self.open.as_ref().is_some_and(|o| o.dir != dir) {
            let subtree_follows = self
                .open
                .as_ref()
                .is_some_and(|o| key.starts_with(o.dir.as_str()));
            if subtree_follows && let Some(o) = self.open.as_mut() {
                o.whole = false;
            }
            self.close(&mut out);
        }
        if self.open.is_none() {
            // A key before this one under `dir` lies in a subfolder of it.
            let subtree_before = self.last_key.as_deref().is_some_and(|k| k.starts_with(dir));
            self.open = Some(Open {
                dir: dir.to_string(),
                items: Vec::new(),
                whole: self.folder_allowed(dir) && !subtree_before,
            });
        }
        let max = self.max;
        if let Some(o) = self.open.as_mut() {
            if !eligible || o.items.len() >= max {
                o.whole = false;
            }
            if let Some(item) = item {
                o.items.push(item);
            }
            if !o.whole && !o.items.is_empty() {
                out.push(Planned::Items(std::mem::take(&mut o.items)));
            }
        }
        self.last_key = Some(key.to_string());
        out
    }

    /// Close the last folder.
    pub fn finish(&mut self) -> Vec<Planned> {
        let mut out = Vec::new();
        self.close(&mut out);
        out
    }

    fn close(&mut self, out: &mut Vec<Planned>) {
        let Some(o) = self.open.take() else {
            return;
        };
        if o.items.is_empty() {
            return;
        }
        if o.whole && o.items.len() >= self.min {
            out.push(Planned::Folder {
                dir: o.dir,
                items: o.items,
            });
        } else {
            out.push(Planned::Items(o.items));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::Object;
    use crate::plan::Reason;

    fn item(key: &str) -> Item {
        Item {
            object: Object {
                key: key.into(),
                size: 1,
                last_modified: None,
                etag: None,
            },
            reason: Reason::Missing,
        }
    }

    fn tracker() -> FolderTracker {
        FolderTracker::new(true, vec!["data/".into()], "s3://src", "s3://dst/p").with_bounds(3, 5)
    }

    /// Feed (key, planned, eligible) and flatten the result to readable strings.
    fn run(t: &mut FolderTracker, keys: &[(&str, bool, bool)]) -> Vec<String> {
        let mut out = Vec::new();
        for &(k, planned, eligible) in keys {
            out.extend(t.observe(k, planned.then(|| item(k)), eligible));
        }
        out.extend(t.finish());
        // Items come out as they become final, possibly one at a time: join neighbours.
        let mut joined: Vec<Planned> = Vec::new();
        for p in out {
            match (joined.last_mut(), p) {
                (Some(Planned::Items(a)), Planned::Items(b)) => a.extend(b),
                (_, p) => joined.push(p),
            }
        }
        joined
            .into_iter()
            .map(|p| match p {
                Planned::Items(v) => format!(
                    "items:{}",
                    v.iter()
                        .map(|i| i.object.key.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                Planned::Folder { dir, items } => format!("folder:{dir}:{}", items.len()),
            })
            .collect()
    }

    fn all(keys: &[&'static str]) -> Vec<(&'static str, bool, bool)> {
        keys.iter().map(|k| (*k, true, true)).collect()
    }

    #[test]
    fn a_whole_folder_becomes_one_line() {
        let mut t = tracker();
        let got = run(
            &mut t,
            &all(&["data/a/1", "data/a/2", "data/a/3", "data/b/1"]),
        );
        assert_eq!(got, vec!["folder:data/a/:3", "items:data/b/1"]);
    }

    #[test]
    fn a_skipped_or_filtered_object_keeps_the_folder_as_items() {
        let mut t = tracker();
        let got = run(
            &mut t,
            &[
                ("data/a/1", true, true),
                ("data/a/2", false, false),
                ("data/a/3", true, true),
                ("data/a/4", true, true),
            ],
        );
        assert_eq!(got, vec!["items:data/a/1,data/a/3,data/a/4"]);
        // Out of scope before the first planned one.
        let mut t = tracker();
        let got = run(
            &mut t,
            &[
                ("data/a/0", false, false),
                ("data/a/1", true, true),
                ("data/a/2", true, true),
                ("data/a/3", true, true),
            ],
        );
        assert_eq!(got, vec!["items:data/a/1,data/a/2,data/a/3"]);
    }

    #[test]
    fn folders_with_subfolders_are_never_whole() {
        // The subfolder sorts after the folder's files.
        let mut t = tracker();
        let got = run(
            &mut t,
            &all(&["data/a/1", "data/a/2", "data/a/3", "data/a/x/1", "data/a/z"]),
        );
        assert_eq!(
            got,
            vec!["items:data/a/1,data/a/2,data/a/3,data/a/x/1,data/a/z"]
        );
        // The subfolder sorts before them.
        let mut t = tracker();
        let got = run(
            &mut t,
            &all(&["data/a/0/1", "data/a/1", "data/a/2", "data/a/3"]),
        );
        assert_eq!(got, vec!["items:data/a/0/1,data/a/1,data/a/2,data/a/3"]);
    }

    #[test]
    fn small_big_root_and_uncovered_folders_stay_items() {
        let mut t = tracker();
        assert_eq!(
            run(&mut t, &all(&["data/a/1", "data/a/2"])),
            vec!["items:data/a/1,data/a/2"]
        );
        let mut t = tracker();
        let keys: Vec<String> = (0..7).map(|i| format!("data/a/{i}")).collect();
        let keys: Vec<(&str, bool, bool)> = keys.iter().map(|k| (k.as_str(), true, true)).collect();
        let got = run(&mut t, &keys);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("items:"), "over the maximum: {got:?}");
        let mut t = tracker();
        assert_eq!(
            run(&mut t, &all(&["a", "b", "c"])),
            vec!["items:a,b,c"],
            "the root is never copied whole"
        );
        let mut t = tracker();
        assert_eq!(
            run(&mut t, &all(&["other/1", "other/2", "other/3"])),
            vec!["items:other/1,other/2,other/3"],
            "no listing prefix covers the folder"
        );
        let mut t = FolderTracker::new(true, vec!["data/a/x".into()], "s3://src", "s3://dst")
            .with_bounds(3, 5);
        assert_eq!(
            run(&mut t, &all(&["data/a/x1", "data/a/x2", "data/a/x3"])),
            vec!["items:data/a/x1,data/a/x2,data/a/x3"],
            "a listing prefix inside the folder lists only part of it"
        );
    }

    #[test]
    fn wildcard_characters_and_disabled_tracker() {
        let mut t = tracker();
        assert_eq!(
            run(&mut t, &all(&["data/a*/1", "data/a*/2", "data/a*/3"])),
            vec!["items:data/a*/1,data/a*/2,data/a*/3"]
        );
        let mut t = FolderTracker::new(true, vec![String::new()], "s3://src/we?rd", "s3://dst")
            .with_bounds(3, 5);
        assert_eq!(
            run(&mut t, &all(&["d/1", "d/2", "d/3"])),
            vec!["items:d/1,d/2,d/3"]
        );
        let mut t = FolderTracker::new(false, vec![String::new()], "s3://src", "s3://dst")
            .with_bounds(3, 5);
        assert_eq!(
            run(&mut t, &all(&["d/1", "d/2", "d/3"])),
            vec!["items:d/1,d/2,d/3"]
        );
        let mut t =
            FolderTracker::new(true, vec![String::new()], "s3://src", "s3://dst").with_bounds(3, 5);
        assert_eq!(
            run(&mut t, &all(&["d/1", "d/2", "d/3"])),
            vec!["folder:d/:3"]
        );
    }

    #[test]
    fn keys_keep_their_order() {
        let mut t = tracker();
        let keys = [
            ("data/a/1", true, true),
            ("data/a/2", true, true),
            ("data/a/3", true, true),
            ("data/b/1", true, true),
            ("data/b/2", false, false),
            ("data/c/1", true, true),
            ("data/c/2", true, true),
            ("data/c/3", true, true),
        ];
        let mut seen = Vec::new();
        for &(k, p, e) in &keys {
            for x in t.observe(k, p.then(|| item(k)), e) {
                match x {
                    Planned::Items(v) | Planned::Folder { items: v, .. } => {
                        seen.extend(v.into_iter().map(|i| i.object.key))
                    }
                }
            }
        }
        for x in t.finish() {
            match x {
                Planned::Items(v) | Planned::Folder { items: v, .. } => {
                    seen.extend(v.into_iter().map(|i| i.object.key))
                }
            }
        }
        let want: Vec<String> = keys
            .iter()
            .filter(|k| k.1)
            .map(|k| k.0.to_string())
            .collect();
        assert_eq!(seen, want);
    }
}
