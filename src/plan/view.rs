//! `lakesync plan`: what a sync would copy and skip, and why, grouped by archive folder
//! (market/period/type/symbol[/interval]) with counts and bytes, plus the dates missing from
//! each group's range (the archive has gaps: days not yet published, new listings,
//! delistings): shown as gaps, not errors.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use jiff::civil::Date;
use serde_json::{Value, json};

use crate::plan::Reason;
use crate::select::archive::{FileDate, file_date};

/// At most this many missing dates are listed per group (the count is always exact).
const MISSING_LISTED: usize = 100;

#[derive(Debug, Default, Clone)]
pub struct Group {
    pub copy: u64,
    pub copy_bytes: u64,
    pub skip: u64,
    pub skip_bytes: u64,
    pub reasons: BTreeMap<String, u64>,
    /// Dates of the zips present at the source.
    days: BTreeSet<Date>,
    months: BTreeSet<(i16, i8)>,
}

#[derive(Debug, Default)]
pub struct PlanGroups {
    groups: BTreeMap<String, Group>,
    /// How each discovered data-type folder was listed (whole or narrowed), as the
    /// planner chose it.
    pub listing: Vec<crate::list::discover::FolderChoice>,
    /// The sizes of the objects to copy, for the cost estimate.
    pub sizes: crate::report::cost::Sizes,
}

fn reason_name(r: Reason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

impl PlanGroups {
    /// Record one source object (key relative to the source folder).
    pub fn record(&mut self, rel: &str, size: u64, reason: Option<Reason>) {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let group = dir.strip_prefix("data/").unwrap_or(dir).to_string();
        let g = self.groups.entry(group).or_default();
        match reason {
            Some(r) => {
                self.sizes.add(size);
                g.copy += 1;
                g.copy_bytes += size;
                *g.reasons.entry(reason_name(r)).or_default() += 1;
            }
            None => {
                g.skip += 1;
                g.skip_bytes += size;
            }
        }
        if name.ends_with(".zip") {
            match file_date(name) {
                Some(FileDate::Day(d)) => {
                    g.days.insert(d);
                }
                Some(FileDate::Month { year, month }) => {
                    g.months.insert((year, month));
                }
                None => {}
            }
        }
    }

    /// Dates in the range (or, open-ended, between the first and last date seen) with no zip.
    fn missing(g: &Group, start: Option<Date>, end: Option<Date>) -> (u64, Vec<String>) {
        let mut listed = Vec::new();
        let mut count = 0u64;
        if let (Some(first), Some(last)) = (g.days.first(), g.days.last()) {
            let (from, to) = (start.unwrap_or(*first), end.unwrap_or(*last));
            let mut d = from;
            while d <= to {
                if !g.days.contains(&d) {
                    count += 1;
                    if listed.len() < MISSING_LISTED {
                        listed.push(d.to_string());
                    }
                }
                match d.tomorrow() {
                    Ok(n) => d = n,
                    Err(_) => break,
                }
            }
        } else if let (Some(first), Some(last)) = (g.months.first(), g.months.last()) {
            let from = start.map_or(*first, |d| (d.year(), d.month()));
            let to = end.map_or(*last, |d| (d.year(), d.month()));
            let mut m = from;
            while m <= to {
                if !g.months.contains(&m) {
                    count += 1;
                    if listed.len() < MISSING_LISTED {
                        listed.push(format!("{:04}-{:02}", m.0, m.1));
                    }
                }
                m = if m.1 == 12 {
                    (m.0 + 1, 1)
                } else {
                    (m.0, m.1 + 1)
                };
            }
        }
        (count, listed)
    }

    pub fn to_json(&self, start: Option<Date>, end: Option<Date>) -> Value {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|(name, g)| {
                let (missing_count, missing) = Self::missing(g, start, end);
                json!({
                    "group": name,
                    "copy": g.copy,
                    "copy_bytes": g.copy_bytes,
                    "skip": g.skip,
                    "skip_bytes": g.skip_bytes,
                    "reasons": g.reasons,
                    "missing_dates_count": missing_count,
                    "missing_dates": missing,
                })
            })
            .collect();
        let sum = |f: fn(&Group) -> u64| self.groups.values().map(f).sum::<u64>();
        json!({
            "format_version": crate::report::FORMAT_VERSION,
            "command": "plan",
            "totals": {
                "copy": sum(|g| g.copy), "copy_bytes": sum(|g| g.copy_bytes),
                "skip": sum(|g| g.skip), "skip_bytes": sum(|g| g.skip_bytes),
            },
            "groups": groups,
        })
    }

    pub fn render_table(&self, start: Option<Date>, end: Option<Date>) -> String {
        let mut s = String::new();
        let width = self
            .groups
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            s,
            "{:<width$}  {:>8} {:>12}  {:>8} {:>12}  {:>7}  why",
            "group", "copy", "bytes", "skip", "bytes", "missing"
        );
        for (name, g) in &self.groups {
            let (missing, _) = Self::missing(g, start, end);
            let why: Vec<String> = g.reasons.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(
                s,
                "{name:<width$}  {:>8} {:>12}  {:>8} {:>12}  {:>7}  {}",
                g.copy,
                g.copy_bytes,
                g.skip,
                g.skip_bytes,
                missing,
                if why.is_empty() {
                    "in place".to_string()
                } else {
                    why.join(", ")
                }
            );
        }
        for (name, g) in &self.groups {
            let (count, listed) = Self::missing(g, start, end);
            if count > 0 {
                let more = if count as usize > listed.len() {
                    format!(" ... ({count} in all)")
                } else {
                    String::new()
                };
                let _ = writeln!(s, "gaps in {name}: {}{more}", listed.join(" "));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_count_and_find_gaps() {
        let mut p = PlanGroups::default();
        for d in ["01", "02", "04"] {
            let k = format!("data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-{d}.zip");
            p.record(&k, 10, Some(Reason::Missing));
            p.record(&format!("{k}.CHECKSUM"), 1, None);
        }
        p.record(
            "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip",
            5,
            None,
        );
        p.record(
            "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-03.zip",
            5,
            None,
        );
        let start = Some("2024-01-01".parse().unwrap());
        let end = Some("2024-01-05".parse().unwrap());
        let j = p.to_json(start, end);
        let spot = &j["groups"][1];
        assert_eq!(spot["group"], "spot/daily/klines/BTCUSDT/1m");
        assert_eq!(spot["copy"], 3);
        assert_eq!(spot["skip"], 3);
        assert_eq!(spot["copy_bytes"], 30);
        assert_eq!(spot["missing_dates"], json!(["2024-01-03", "2024-01-05"]));
        // The range covers January only: no monthly gap in it; open-ended, February is one.
        assert_eq!(j["groups"][0]["missing_dates"], json!([]));
        let open = p.to_json(None, None);
        assert_eq!(open["groups"][0]["missing_dates"], json!(["2024-02"]));
        assert_eq!(j["totals"]["copy"], 3);
        let t = p.render_table(start, end);
        assert!(
            t.contains("gaps in spot/daily/klines/BTCUSDT/1m: 2024-01-03 2024-01-05"),
            "{t}"
        );
    }
}
