//! HTML pages for people: one self-contained page for a run report ([`render_run`]) and one
//! for a history summary ([`render_history`]). Pure: JSON in, a `String` out.
//!
//! Both work on `serde_json::Value`, not on [`crate::report::Report`], so a merged report
//! (`lakesync report merge`, which adds `merged_from` and per-shard labels), a report from an
//! older lakesync, or a hand-trimmed one renders: every missing field shows "n/a".
//!
//! The page has no script, no external asset and no web font, and says so to the browser
//! with a `Content-Security-Policy` of `default-src 'none'`: it can be opened from an
//! Airflow artifact, a mail attachment or an air-gapped machine, and a key that escaped
//! escaping still could not run. Charts are SVG written by hand rather than by a charting
//! crate or a JavaScript library: five chart shapes (bars, lines, a step line, horizontal
//! bars, stacked bars) are a few hundred lines, keep the dependency count at zero and the
//! output deterministic (same report, same bytes), which the tests rely on.
//!
//! Every text that comes from the report goes through `Esc` (keys are hostile: `<`, `&`,
//! quotes). Only numbers this module formats itself reach SVG attributes, and status words
//! reach `class` attributes through a fixed mapping.
//!
//! A series longer than [`MAX_POINTS`] / 2 is cut into that many buckets (bars: the mean
//! of each bucket; lines: the minimum and the maximum of each, in batch order, so spikes
//! survive): about one vertex per pixel, and the four batch charts of a 7,000-batch run
//! weigh about 40 KB. The failures table (at most [`MAX_FAILURES_SHOWN`] rows) is what can
//! make a page big: 500 failures with long s5cmd errors bring it to about 190 KB.

use std::fmt::{self, Display, Write as _};
use std::ops::Range;

use serde_json::Value;

use crate::exit_codes;

/// Most vertices one chart series is drawn with.
pub const MAX_POINTS: usize = 600;
/// Failures listed in the run page's table; the page says how many more there are.
pub const MAX_FAILURES_SHOWN: usize = 500;
/// Most recent runs listed in the history page's table (the charts show every run).
pub const MAX_HISTORY_ROWS: usize = 100;

const NA: &str = "n/a";
/// Line charts with at most this many points mark each point.
const MARKERS_UP_TO: usize = 60;

/// HTML-escapes its text when displayed (text and attribute values alike).
struct Esc<'a>(&'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

// ---------------------------------------------------------------------------------------
// Reading the JSON: every accessor answers None for missing, null or mistyped fields.

fn at<'a>(v: &'a Value, ptr: &str) -> Option<&'a Value> {
    v.pointer(ptr).filter(|x| !x.is_null())
}

fn f64_at(v: &Value, ptr: &str) -> Option<f64> {
    at(v, ptr)?.as_f64().filter(|x| x.is_finite())
}

/// A count; merged reports may carry counts as floats.
fn u64_at(v: &Value, ptr: &str) -> Option<u64> {
    let x = at(v, ptr)?;
    x.as_u64().or_else(|| {
        x.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f.round() as u64)
    })
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    at(v, ptr)?.as_str()
}

fn bool_at(v: &Value, ptr: &str) -> Option<bool> {
    at(v, ptr)?.as_bool()
}

/// An object of counts at `ptr` as "name N, name N"; `None` when there is no object.
fn counts_at(v: &Value, ptr: &str) -> Option<String> {
    let o = at(v, ptr)?.as_object()?;
    let counts: Vec<String> = o
        .iter()
        .map(|(k, v)| format!("{k} {}", na_or(v.as_u64(), count)))
        .collect();
    Some(counts.join(", "))
}

fn array_at<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    at(v, ptr)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

// ---------------------------------------------------------------------------------------
// Formatting numbers.

fn na_or<T>(o: Option<T>, f: impl FnOnce(T) -> String) -> String {
    o.map_or_else(|| NA.to_string(), f)
}

/// Numbers as the human summary prints them.
use crate::report::units::{human_bytes as bytes, human_count as count};

fn seconds(s: f64) -> String {
    crate::report::units::human_seconds(s).unwrap_or_else(|| NA.to_string())
}

/// A chart value: as many decimals as its size needs.
fn short(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

// ---------------------------------------------------------------------------------------
// Status words. Colour is never the only signal: each badge carries its word.

/// CSS class for an SLA status word; anything unknown is shown as n/a.
fn status_class(s: &str) -> &'static str {
    match s {
        "ok" => "st-ok",
        "warning" => "st-warning",
        "critical" => "st-critical",
        _ => "st-na",
    }
}

fn badge(word: &str, class: &str) -> String {
    format!(r#"<span class="badge {class}">{}</span>"#, Esc(word))
}

fn sla_badge(status: Option<&str>) -> String {
    match status {
        Some(s) => badge(&s.to_uppercase(), status_class(s)),
        None => badge(NA, "st-na"),
    }
}

/// Short headline word, meaning (HTML), and badge class of an exit code, from the one table
/// of documented codes.
fn exit_meaning(code: i64) -> (&'static str, String, &'static str) {
    let Ok(c) = i32::try_from(code) else {
        return ("EXIT ?", "not a process exit code".into(), "st-na");
    };
    if let Some(d) = exit_codes::describe(c) {
        let class = match c {
            exit_codes::OK => "st-ok",
            exit_codes::SLA_BREACH
            | exit_codes::INTERRUPTED_SIGINT
            | exit_codes::INTERRUPTED_SIGTERM => "st-warning",
            _ => "st-critical",
        };
        return (d.name, markdown_code(d.meaning), class);
    }
    match c {
        129..=192 => (
            "KILLED",
            format!("killed by signal {}", c - 128),
            "st-critical",
        ),
        _ => (
            "EXIT",
            "not a documented lakesync exit code (see the README)".into(),
            "st-na",
        ),
    }
}

/// Escaped text with its `backtick` spans as `<code>`.
fn markdown_code(text: &str) -> String {
    Esc(text)
        .to_string()
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_string()
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The page frame.

const CSS: &str = r#"
:root{--bg:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--card:#f6f8fa;
--c1:#0969da;--c2:#8250df;--c3:#bc4c00;--ok:#1a7f37;--warn:#9a6700;--crit:#cf222e;
--okbg:#dafbe1;--warnbg:#fff8c5;--critbg:#ffebe9;--nabg:#eaeef2}
@media (prefers-color-scheme: dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;
--line:#3d444d;--card:#151b23;--c1:#4493f8;--c2:#ab7df8;--c3:#f0883e;--ok:#3fb950;
--warn:#d29922;--crit:#f85149;--okbg:#12261e;--warnbg:#272115;--critbg:#2d1519;--nabg:#212830}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1240px;padding:16px 20px 40px;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{font-size:22px;margin:4px 0 2px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.sub{color:var(--muted);margin:0 0 12px;overflow-wrap:anywhere}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:4px 24px;margin:8px 0}
.meta div{display:flex;gap:8px}.meta .wide{grid-column:1/-1}.meta dt{color:var(--muted);min-width:84px}.meta dd{margin:0;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(132px,1fr));gap:10px;margin:12px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 12px}
.card .k{color:var(--muted);font-size:12px}.card .v{font-size:21px;font-weight:600}
.card .x{color:var(--muted);font-size:12px}.card.bad{border-color:var(--crit)}.card.bad .v{color:var(--crit)}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-weight:600;font-size:12px;border:1px solid}
.st-ok{color:var(--ok);background:var(--okbg)}.st-warning{color:var(--warn);background:var(--warnbg)}
.st-critical{color:var(--crit);background:var(--critbg)}.st-na{color:var(--muted);background:var(--nabg)}
h1 .badge{font-size:14px;vertical-align:3px}
.alert{border:1px solid var(--crit);background:var(--critbg);border-radius:8px;padding:8px 12px;margin:12px 0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px}
figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:8px 10px}
figcaption{font-weight:600;margin-bottom:4px}.legend{font-weight:400;color:var(--muted);margin-left:12px}
.note{color:var(--muted);font-size:12px;margin:4px 0 0}
svg.chart{display:block;width:100%;height:auto}svg.empty{border:1px dashed var(--line);border-radius:6px}
.axis{stroke:var(--muted);fill:none}.grid{stroke:var(--line);fill:none}
.tick{fill:var(--muted);font-size:11px}.tick.end{text-anchor:end}.tick.mid{text-anchor:middle}
.nodata{fill:var(--muted);font-size:15px;text-anchor:middle}
.lbl{fill:var(--fg);font-size:12px}.val{fill:var(--muted);font-size:12px}
.f1{fill:var(--c1)}.f2{fill:var(--c2)}.f3{fill:var(--c3)}.fok{fill:var(--ok)}.fwarn{fill:var(--warn)}
.fcrit{fill:var(--crit)}.fmuted{fill:var(--muted)}
.ln{fill:none;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
.s1{stroke:var(--c1)}.s2{stroke:var(--c2)}.s3{stroke:var(--c3)}.dash{stroke-dasharray:6 4}
.thr{fill:none;stroke-dasharray:3 3}.thr.warn{stroke:var(--warn)}.thr.crit{stroke:var(--crit)}
.sw{display:inline-block;width:18px;height:0;border-top:3px solid;vertical-align:middle;margin-right:4px}
.sw.s1{border-color:var(--c1)}.sw.s2{border-color:var(--c2)}.sw.s3{border-color:var(--c3)}.sw.dash{border-top-style:dashed}
.sw.blk{width:11px;height:11px;border-top:0}.blk.s1{background:var(--c1)}.blk.s2{background:var(--c2)}.blk.s3{background:var(--c3)}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:12px;white-space:nowrap}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.key{word-break:break-all;max-width:520px}td.err{word-break:break-word}
table.kv th{width:170px}
footer{color:var(--muted);font-size:12px;margin-top:32px}
"#;

fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + CSS.len() + 600);
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="color-scheme" content="light dark">
<title>{}</title>
<style>{CSS}</style>
</head>
<body>
{body}</body>
</html>
"#,
        Esc(title)
    );
    out
}

fn meta_row(out: &mut String, label: &str, value_html: &str) {
    let _ = write!(out, "<div><dt>{label}</dt><dd>{value_html}</dd></div>");
}

fn card(out: &mut String, label: &str, value: &str, extra: &str, bad: bool) {
    let class = if bad { "card bad" } else { "card" };
    let _ = write!(
        out,
        r#"<div class="{class}"><div class="k">{}</div><div class="v">{}</div><div class="x">{}</div></div>"#,
        Esc(label),
        Esc(value),
        Esc(extra)
    );
}

/// A card showing a count (n/a when missing); marked bad when `any_is_bad` and it is above 0.
fn count_card(out: &mut String, label: &str, n: Option<u64>, extra: &str, any_is_bad: bool) {
    let bad = any_is_bad && n.is_some_and(|n| n > 0);
    card(out, label, &na_or(n, count), extra, bad);
}

fn kv_row(out: &mut String, label: &str, value: &str) {
    let _ = write!(
        out,
        "<tr><th>{}</th><td>{}</td></tr>",
        Esc(label),
        Esc(value)
    );
}

// ---------------------------------------------------------------------------------------
// Charts.

/// The chart's coordinate system: a viewBox, and the plot area inside it.
const VIEW_W: f64 = 560.0;
const VIEW_H: f64 = 210.0;
const PLOT_L: f64 = 50.0;
const PLOT_R: f64 = 548.0;
const PLOT_T: f64 = 10.0;
const PLOT_B: f64 = 180.0;

#[derive(Clone, Copy, PartialEq)]
enum Mark {
    /// One bar per value.
    Bars,
    /// Straight segments between values (a `None` breaks the line).
    Line,
    /// The value holds until the next one (worker counts).
    Step,
}

struct Series {
    label: &'static str,
    /// Suffix of the colour classes: `1`, `2`, `3`.
    colour: u8,
    dashed: bool,
    mark: Mark,
    values: Vec<Option<f64>>,
}

struct Threshold {
    value: f64,
    class: &'static str,
}

struct Chart {
    title: &'static str,
    /// The y unit, shown in the caption.
    unit: &'static str,
    /// What the x positions are, singular and plural: ("batch", "batches").
    x_noun: (&'static str, &'static str),
    /// Labels under the first and the last position (defaults: `x_noun 1`, `x_noun N`).
    x_first: Option<String>,
    x_last: Option<String>,
    /// The bottom of the y axis (0 unless the interesting range is near the top).
    y_min: f64,
    /// At least this top of the y axis.
    y_max: Option<f64>,
    thresholds: Vec<Threshold>,
    series: Vec<Series>,
    nodata: String,
}

/// `0..n` cut into at most `max` contiguous, nearly equal ranges.
fn buckets(n: usize, max: usize) -> Vec<Range<usize>> {
    let k = n.min(max.max(1));
    (0..k).map(|b| b * n / k..(b + 1) * n / k).collect()
}

/// A drawn value: its position range on the x axis (in value indexes) and its y.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pt {
    x0: f64,
    x1: f64,
    y: f64,
}

/// The vertices of one series after downsampling; `None` breaks a line.
fn downsample(values: &[Option<f64>], mark: Mark) -> Vec<Option<Pt>> {
    let n = values.len();
    let limit = MAX_POINTS / 2;
    let pt = |i: usize, y: f64| Pt {
        x0: i as f64,
        x1: i as f64 + 1.0,
        y,
    };
    if n <= limit {
        return values
            .iter()
            .enumerate()
            .map(|(i, v)| v.map(|y| pt(i, y)))
            .collect();
    }
    let mut out = Vec::with_capacity(limit * 2);
    for r in buckets(n, limit) {
        let present = || r.clone().filter_map(|i| values[i].map(|y| (i, y)));
        if mark == Mark::Bars {
            let (sum, k) = present().fold((0.0, 0usize), |(s, k), (_, y)| (s + y, k + 1));
            out.push((k > 0).then(|| Pt {
                x0: r.start as f64,
                x1: r.end as f64,
                y: sum / k as f64,
            }));
            continue;
        }
        let lo = present().min_by(|a, b| a.1.total_cmp(&b.1));
        let hi = present().max_by(|a, b| a.1.total_cmp(&b.1));
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo.0 == hi.0 => out.push(Some(pt(lo.0, lo.1))),
            (Some(lo), Some(hi)) => {
                let (a, b) = if lo.0 < hi.0 { (lo, hi) } else { (hi, lo) };
                out.push(Some(pt(a.0, a.1)));
                out.push(Some(pt(b.0, b.1)));
            }
            _ => out.push(None),
        }
    }
    out
}

/// A step for gridlines: 1, 2, 2.5 or 5 times a power of ten, about `max / 4`.
fn nice_step(max: f64) -> f64 {
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn summary_stats(values: &[Option<f64>]) -> Option<(f64, f64, f64, usize)> {
    let mut v: Vec<f64> = values.iter().flatten().copied().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some((v[0], v[v.len() / 2], v[v.len() - 1], v.len()))
}

fn no_data(out: &mut String, title: &str, text: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart empty" viewBox="0 0 {VIEW_W} 90" role="img" aria-label="{t}: no data"><title>{t}: no data</title><text x="{cx}" y="50" class="nodata">{}</text></svg>"#,
        Esc(text),
        t = Esc(title),
        cx = VIEW_W / 2.0,
    );
}

fn render_chart(out: &mut String, c: &Chart) {
    legend(out, c);
    let n = c.series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let drawn: Vec<Vec<Option<Pt>>> = c
        .series
        .iter()
        .map(|s| downsample(&s.values, s.mark))
        .collect();
    let data_max = drawn
        .iter()
        .flatten()
        .flatten()
        .map(|p| p.y)
        .fold(f64::NEG_INFINITY, f64::max);
    if n == 0 || !data_max.is_finite() {
        no_data(out, c.title, &c.nodata);
        out.push_str("</figure>");
        return;
    }
    let bottom = c.y_min;
    let top_value = c.y_max.unwrap_or(data_max).max(data_max);
    let (step, top) = if top_value > bottom {
        let step = nice_step(top_value - bottom);
        let nice_top = bottom + ((top_value - bottom) / step).ceil() * step;
        // A bounded axis (percent) ends at its bound, not at the next round number.
        (step, c.y_max.filter(|m| data_max <= *m).unwrap_or(nice_top))
    } else {
        (0.25, bottom + 1.0)
    };
    let scale = Scale { n, bottom, top };
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {VIEW_W} {VIEW_H}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = Esc(c.title)
    );
    axes(out, c, &scale, step);
    for (s, pts) in c.series.iter().zip(&drawn) {
        draw_series(out, s, pts, &scale);
    }
    let _ = write!(
        out,
        r#"<path class="axis" d="M{PLOT_L} {PLOT_T}V{PLOT_B}H{PLOT_R}"/></svg>"#
    );
    notes(out, c, n);
}

/// Data coordinates to SVG coordinates.
struct Scale {
    /// Points on the x axis.
    n: usize,
    bottom: f64,
    top: f64,
}

impl Scale {
    fn x(&self, x: f64) -> f64 {
        PLOT_L + x / self.n as f64 * (PLOT_R - PLOT_L)
    }

    fn y(&self, y: f64) -> f64 {
        PLOT_B - ((y.max(self.bottom) - self.bottom) / (self.top - self.bottom)) * (PLOT_B - PLOT_T)
    }
}

/// The figure's caption: title, unit, and a legend when there are several series.
fn legend(out: &mut String, c: &Chart) {
    let _ = write!(out, "<figure><figcaption>{}", Esc(c.title));
    if !c.unit.is_empty() {
        let _ = write!(out, " <span class=\"legend\">({})</span>", Esc(c.unit));
    }
    if c.series.len() > 1 {
        for s in &c.series {
            let shape = match (s.mark, s.dashed) {
                (Mark::Bars, _) => " blk",
                (_, true) => " dash",
                (_, false) => "",
            };
            let _ = write!(
                out,
                r#"<span class="legend"><span class="sw s{}{shape}"></span>{}</span>"#,
                s.colour,
                Esc(s.label)
            );
        }
    }
    out.push_str("</figcaption>");
}

/// Gridlines, y ticks, threshold lines and the first and last x labels.
fn axes(out: &mut String, c: &Chart, scale: &Scale, step: f64) {
    let (n, bottom, top) = (scale.n, scale.bottom, scale.top);
    let py = |y: f64| scale.y(y);
    // Gridlines and y ticks.
    let mut grid = String::new();
    let decimals = (0..4)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(4) as usize;
    let mut i = 0.0;
    while bottom + i * step <= top + step / 1000.0 {
        let k = bottom + i * step;
        let y = py(k);
        let _ = write!(grid, "M{PLOT_L} {y:.1}H{PLOT_R}");
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="tick end">{k:.decimals$}</text>"#,
            PLOT_L - 6.0,
            y + 4.0,
        );
        i += 1.0;
    }
    let _ = write!(out, r#"<path class="grid" d="{grid}"/>"#);
    for t in &c.thresholds {
        if t.value <= top && t.value >= bottom {
            let _ = write!(
                out,
                r#"<path class="thr {}" d="M{PLOT_L} {:.1}H{PLOT_R}"/>"#,
                t.class,
                py(t.value)
            );
        }
    }
    // X labels: first, last, and the middle when there is room.
    let first = c
        .x_first
        .clone()
        .unwrap_or_else(|| format!("{} 1", c.x_noun.0));
    let last = c
        .x_last
        .clone()
        .unwrap_or_else(|| format!("{} {}", c.x_noun.0, count(n as u64)));
    let _ = write!(
        out,
        r#"<text x="{PLOT_L}" y="{:.1}" class="tick">{}</text>"#,
        PLOT_B + 16.0,
        Esc(&first)
    );
    if n > 1 {
        let _ = write!(
            out,
            r#"<text x="{PLOT_R}" y="{:.1}" class="tick end">{}</text>"#,
            PLOT_B + 16.0,
            Esc(&last)
        );
    }
}

/// One series: bars, or a line (step or straight) with markers when there are few points.
fn draw_series(out: &mut String, s: &Series, pts: &[Option<Pt>], scale: &Scale) {
    let px = |x: f64| scale.x(x);
    let py = |y: f64| scale.y(y);
    let mut d = String::new();
    match s.mark {
        Mark::Bars => {
            for p in pts.iter().flatten() {
                let (x0, x1) = (px(p.x0), px(p.x1));
                // A gap between bars while they are wide enough to show one.
                let gap = ((x1 - x0) * 0.2).min(2.0);
                let gap = if x1 - x0 > 3.0 { gap } else { 0.0 };
                let _ = write!(
                    d,
                    "M{:.1} {PLOT_B}V{:.1}H{:.1}V{PLOT_B}Z",
                    x0 + gap / 2.0,
                    py(p.y),
                    x1 - gap / 2.0
                );
            }
            let _ = write!(out, r#"<path class="f{}" d="{d}"/>"#, s.colour);
        }
        Mark::Line | Mark::Step => {
            let mut pen_down = false;
            let mut last_x1 = 0.0;
            for p in pts {
                let Some(p) = p else {
                    if pen_down && s.mark == Mark::Step {
                        let _ = write!(d, "H{:.1}", px(last_x1));
                    }
                    pen_down = false;
                    continue;
                };
                let y = py(p.y);
                match (s.mark, pen_down) {
                    (Mark::Step, false) => {
                        let _ = write!(d, "M{:.1} {y:.1}", px(p.x0));
                    }
                    (Mark::Step, true) => {
                        let _ = write!(d, "H{:.1}V{y:.1}", px(p.x0));
                    }
                    (_, false) => {
                        // A lone point is a zero-length segment: round caps draw a dot.
                        let _ = write!(d, "M{:.1} {y:.1}l0 0", px((p.x0 + p.x1) / 2.0));
                    }
                    (_, true) => {
                        let _ = write!(d, "L{:.1} {y:.1}", px((p.x0 + p.x1) / 2.0));
                    }
                }
                pen_down = true;
                last_x1 = p.x1;
            }
            if pen_down && s.mark == Mark::Step {
                let _ = write!(d, "H{:.1}", px(last_x1));
            }
            let dash = if s.dashed { " dash" } else { "" };
            let _ = write!(out, r#"<path class="ln s{}{dash}" d="{d}"/>"#, s.colour);
            // Few points: mark each, so a lone one (or one on a gridline) is seen.
            if s.mark == Mark::Line && pts.len() <= MARKERS_UP_TO {
                for p in pts.iter().flatten() {
                    let _ = write!(
                        out,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3" class="f{}"/>"#,
                        px((p.x0 + p.x1) / 2.0),
                        py(p.y),
                        s.colour
                    );
                }
            }
        }
    }
}

/// The numbers behind the picture, for readers without colour or a mouse.
fn notes(out: &mut String, c: &Chart, n: usize) {
    let mut notes = Vec::new();
    for s in &c.series {
        if let Some((min, median, max, k)) = summary_stats(&s.values) {
            let name = if c.series.len() > 1 {
                format!("{}: ", s.label)
            } else {
                String::new()
            };
            notes.push(format!(
                "{name}min {} · median {} · max {} over {}",
                short(min),
                short(median),
                short(max),
                plural(k as u64, c.x_noun.0, c.x_noun.1)
            ));
        }
    }
    if n > MAX_POINTS / 2 {
        notes.push(format!(
            "{} {} drawn as {} buckets (bars: mean; lines: min and max of each)",
            count(n as u64),
            c.x_noun.1,
            MAX_POINTS / 2
        ));
    }
    let _ = write!(
        out,
        r#"<p class="note">{}</p></figure>"#,
        Esc(&notes.join("; "))
    );
}

/// Horizontal bars, one per labelled value (outcome counts).
fn hbars(out: &mut String, title: &str, rows: &[(&str, Option<u64>, &str)], nodata: &str) {
    let _ = write!(out, "<figure><figcaption>{}</figcaption>", Esc(title));
    let max = rows.iter().filter_map(|r| r.1).max().unwrap_or(0);
    if max == 0 {
        no_data(out, title, nodata);
        out.push_str("</figure>");
        return;
    }
    let row_h = 30.0;
    let h = rows.len() as f64 * row_h + 8.0;
    let (x0, x1) = (110.0, 440.0);
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {VIEW_W} {h}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = Esc(title)
    );
    for (i, (label, value, class)) in rows.iter().enumerate() {
        let y = 6.0 + i as f64 * row_h;
        let w = value.map_or(0.0, |v| v as f64 / max as f64 * (x1 - x0));
        let _ = write!(
            out,
            r#"<text x="0" y="{:.1}" class="lbl">{}</text><rect x="{x0}" y="{y:.1}" width="{w:.1}" height="{:.1}" class="{class}"/><text x="{:.1}" y="{:.1}" class="val">{}</text>"#,
            y + 15.0,
            Esc(label),
            row_h - 10.0,
            x0 + w + 6.0,
            y + 15.0,
            na_or(*value, count)
        );
    }
    out.push_str("</svg></figure>");
}

// ---------------------------------------------------------------------------------------
// The run page.

/// Render a run report (the JSON written by `lakesync sync --report`, or by
/// `lakesync report merge`) as one self-contained HTML page: no external assets, no
/// scripts needed, no network.
pub fn render_run(report: &Value) -> String {
    let r = report;
    let command = str_at(r, "/command").unwrap_or("sync");
    let dry_run = bool_at(r, "/dry_run").unwrap_or(false);
    let exit = at(r, "/exit_code").and_then(Value::as_i64);
    let source = str_at(r, "/source").unwrap_or(NA);
    let dest = str_at(r, "/dest").unwrap_or(NA);
    let (head, head_class) = match exit {
        Some(0) if dry_run => ("DRY RUN", "st-na"),
        Some(code) => {
            let (word, _, class) = exit_meaning(code);
            (word, class)
        }
        None => (NA, "st-na"),
    };

    let mut b = String::new();
    let _ = write!(
        b,
        r#"<header><h1>lakesync {} {}</h1><p class="sub mono">{} &rarr; {}</p>"#,
        Esc(command),
        badge(head, head_class),
        Esc(source),
        Esc(dest)
    );
    b.push_str(r#"<dl class="meta">"#);
    let text = |p: &str| Esc(str_at(r, p).unwrap_or(NA)).to_string();
    meta_row(&mut b, "mode", &text("/mode"));
    let shard = match (str_at(r, "/shard"), u64_at(r, "/merged_from")) {
        (Some(s), _) => Esc(s).to_string(),
        (None, Some(k)) => format!("merged from {}", plural(k, "report", "reports")),
        (None, None) => "none (whole plan)".into(),
    };
    meta_row(&mut b, "shard", &shard);
    meta_row(&mut b, "started", &text("/started_at"));
    meta_row(&mut b, "finished", &text("/finished_at"));
    meta_row(
        &mut b,
        "duration",
        &na_or(f64_at(r, "/duration_seconds"), seconds),
    );
    let exit_html = match exit {
        Some(code) => format!("{code}: {}", exit_meaning(code).1),
        None => NA.into(),
    };
    meta_row(&mut b, "exit code", &exit_html);
    let yes_no = |p: &str| na_or(bool_at(r, p), |x| if x { "yes" } else { "no" }.into());
    meta_row(&mut b, "interrupted", &yes_no("/interrupted"));
    meta_row(&mut b, "dry run", &yes_no("/dry_run"));
    meta_row(&mut b, "SLA", &sla_badge(str_at(r, "/sla_status")));
    meta_row(&mut b, "endpoint", &text("/endpoint_url"));
    // Selections run long: a row of their own.
    let _ = write!(
        b,
        r#"<div class="wide"><dt>selection</dt><dd>{}</dd></div></dl></header>"#,
        text("/selection")
    );

    if let Some(e) = at(r, "/error") {
        let msg = str_at(e, "/message").unwrap_or(NA);
        let _ = write!(
            b,
            r#"<div class="alert"><strong>The run stopped early:</strong> {}"#,
            Esc(msg)
        );
        if let Some(h) = str_at(e, "/hint") {
            let _ = write!(b, "<br>hint: {}", Esc(h));
        }
        b.push_str("</div>");
    }

    totals_cards(&mut b, r, command, dry_run);
    run_charts(&mut b, r, dry_run);
    sla_table(&mut b, r);
    failures_table(&mut b, r);
    details(&mut b, r);

    let _ = write!(
        b,
        "<footer>{} {} &middot; report format_version {} &middot; rendered by lakesync {}</footer>",
        Esc(str_at(r, "/tool/name").unwrap_or("lakesync")),
        Esc(str_at(r, "/tool/version").unwrap_or(NA)),
        na_or(u64_at(r, "/format_version"), |v| v.to_string()),
        env!("CARGO_PKG_VERSION")
    );
    page(
        &format!("lakesync {command} {head}: {source} -> {dest}"),
        &b,
    )
}

fn totals_cards(b: &mut String, r: &Value, command: &str, dry_run: bool) {
    b.push_str(r#"<h2>Totals</h2><div class="cards">"#);
    let t = |k: &str| u64_at(r, &format!("/totals/{k}"));
    if command != "sync" {
        // A verify report (or a future command): every count it has.
        if let Some(obj) = at(r, "/totals").and_then(Value::as_object) {
            for (k, v) in obj {
                if let Some(n) = v.as_u64() {
                    card(b, k, &count(n), "", false);
                }
            }
        }
        b.push_str("</div>");
        return;
    }
    let c = |k| na_or(t(k), count);
    card(b, "selected", &c("selected"), "in the selection", false);
    let planned_note = if dry_run {
        "would copy"
    } else {
        "needed copying"
    };
    card(b, "planned", &c("planned"), planned_note, false);
    card(b, "skipped", &c("skipped"), "already in place", false);
    card(b, "copied", &c("copied"), "s5cmd reported", false);
    card(
        b,
        "failed",
        &c("failed"),
        "not in place",
        t("failed").is_some_and(|f| f > 0),
    );
    let unvalidated = match (t("copied"), t("validated")) {
        (Some(c), Some(v)) if v < c => format!("{} copied not confirmed", count(c - v)),
        _ => "confirmed by listing".into(),
    };
    card(b, "validated", &c("validated"), &unvalidated, false);
    card(b, "fallback", &c("fallback"), "landed staged", false);
    let (main, note) = match (dry_run, t("bytes_planned")) {
        (true, planned) => (planned, "planned".to_string()),
        (false, Some(p)) => (t("bytes_copied"), format!("copied of {} planned", bytes(p))),
        (false, None) => (t("bytes_copied"), "copied".to_string()),
    };
    card(b, "bytes", &na_or(main, bytes), &note, false);
    b.push_str("</div>");
}

fn run_charts(b: &mut String, r: &Value, dry_run: bool) {
    let batches = array_at(r, "/batches");
    let field = |k: &str| -> Vec<Option<f64>> {
        batches
            .iter()
            .map(|x| f64_at(x, &format!("/{k}")))
            .collect()
    };
    let files_per_s: Vec<Option<f64>> = batches
        .iter()
        .map(|x| match (f64_at(x, "/files"), f64_at(x, "/seconds")) {
            (Some(f), Some(s)) if s > 0.0 => Some(f / s),
            _ => None,
        })
        .collect();
    let rss_mb: Vec<Option<f64>> = field("rss_peak_bytes")
        .into_iter()
        .map(|v| v.map(|b| b / 1e6))
        .collect();
    let why = if dry_run {
        "no data: a dry run runs no batches"
    } else if batches.is_empty() {
        "no data: no batch ran"
    } else {
        "no data: the report has no such numbers per batch"
    };
    let chart = |title, unit, series| Chart {
        title,
        unit,
        x_noun: ("batch", "batches"),
        x_first: None,
        x_last: None,
        y_min: 0.0,
        y_max: None,
        thresholds: vec![],
        series,
        nodata: why.to_string(),
    };
    b.push_str(r#"<h2>Batches</h2><div class="charts">"#);
    let one = |label, colour, mark, values| {
        vec![Series {
            label,
            colour,
            dashed: false,
            mark,
            values,
        }]
    };
    render_chart(
        b,
        &chart(
            "Throughput per batch",
            "files/s",
            one("files/s", 1, Mark::Bars, files_per_s),
        ),
    );
    render_chart(
        b,
        &chart(
            "Workers per batch",
            "s5cmd workers, chosen by the governor",
            one("workers", 2, Mark::Step, field("workers")),
        ),
    );
    render_chart(
        b,
        &chart(
            "Memory peak per batch",
            "MB, lakesync + s5cmd",
            one("RSS peak", 1, Mark::Line, rss_mb),
        ),
    );
    let cpu = vec![
        Series {
            label: "peak",
            colour: 3,
            dashed: false,
            mark: Mark::Line,
            values: field("cpu_peak_pct"),
        },
        Series {
            label: "average",
            colour: 1,
            dashed: true,
            mark: Mark::Line,
            values: field("cpu_avg_pct"),
        },
    ];
    render_chart(b, &chart("CPU per batch", "% of the machine", cpu));
    let t = |k: &str| u64_at(r, &format!("/totals/{k}"));
    let mut rows = vec![
        ("copied", t("copied"), "fok"),
        ("skipped", t("skipped"), "fmuted"),
        ("failed", t("failed"), "fcrit"),
        ("fallback", t("fallback"), "f3"),
    ];
    if dry_run {
        rows.insert(0, ("would copy", t("planned"), "f1"));
    }
    hbars(
        b,
        "Outcomes (objects)",
        &rows,
        "no data: no object was selected",
    );
    b.push_str("</div>");
}

fn sla_table(b: &mut String, r: &Value) {
    let _ = write!(
        b,
        "<h2>SLA checks {}</h2>",
        sla_badge(str_at(r, "/sla_status"))
    );
    table_or_note(
        b,
        array_at(r, "/sla"),
        "No SLA checks in this report (dry run, or a report without them).",
        r#"<th>check</th><th>status</th><th>actual</th><th>target</th><th class="n">value %</th>"#,
        |b, c| {
            let _ = write!(
                b,
                r#"<tr><td class="mono">{}</td><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td></tr>"#,
                Esc(str_at(c, "/name").unwrap_or(NA)),
                sla_badge(str_at(c, "/status")),
                Esc(str_at(c, "/actual").unwrap_or(NA)),
                Esc(str_at(c, "/target").unwrap_or(NA)),
                na_or(f64_at(c, "/value"), |v| format!("{v:.2}"))
            );
        },
    );
}

fn failures_table(b: &mut String, r: &Value) {
    let failures = array_at(r, "/failures");
    let omitted = u64_at(r, "/failures_omitted").unwrap_or(0);
    let total = failures.len() as u64 + omitted;
    let _ = write!(b, "<h2>Failures ({})</h2>", count(total));
    if total == 0 {
        b.push_str(r#"<p class="note">None: no object failed.</p>"#);
        return;
    }
    let shown = failures.len().min(MAX_FAILURES_SHOWN);
    if (shown as u64) < total {
        let _ = write!(
            b,
            r#"<p class="note">The first {} of {} are listed{}.</p>"#,
            count(shown as u64),
            count(total),
            if omitted > 0 {
                format!("; the report itself left out {}", count(omitted))
            } else {
                String::new()
            }
        );
    }
    let shards = failures
        .iter()
        .take(shown)
        .any(|f| at(f, "/shard").is_some());
    b.push_str(
        r#"<table><thead><tr><th>key</th><th>error</th><th>class</th><th class="n">attempts</th>"#,
    );
    if shards {
        b.push_str("<th>shard</th>");
    }
    b.push_str("</tr></thead><tbody>");
    for f in &failures[..shown] {
        let _ = write!(
            b,
            r#"<tr><td class="key mono">{}</td><td class="err">{}</td><td>{}</td><td class="n">{}</td>"#,
            Esc(str_at(f, "/key").unwrap_or(NA)),
            Esc(str_at(f, "/error").unwrap_or(NA)),
            Esc(str_at(f, "/class").unwrap_or(NA)),
            na_or(u64_at(f, "/attempts"), count)
        );
        if shards {
            let _ = write!(b, "<td>{}</td>", Esc(str_at(f, "/shard").unwrap_or(NA)));
        }
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table>");
}

fn details(b: &mut String, r: &Value) {
    b.push_str(r#"<h2>Details</h2><table class="kv"><tbody>"#);
    let n = |p: &str| na_or(u64_at(r, p), count);
    let by = |p: &str| na_or(u64_at(r, p), bytes);
    kv_row(
        b,
        "tool",
        &format!(
            "{} {}; s5cmd {} ({})",
            str_at(r, "/tool/name").unwrap_or("lakesync"),
            str_at(r, "/tool/version").unwrap_or(NA),
            str_at(r, "/tool/s5cmd_version").unwrap_or(NA),
            str_at(r, "/tool/s5cmd_path").unwrap_or(NA)
        ),
    );
    kv_row(
        b,
        "settings",
        &format!(
            "batch size {} · workers {} · attempts {} · s5cmd retries {} · batch timeout {}",
            n("/settings/batch_size"),
            n("/settings/workers"),
            n("/settings/attempts"),
            n("/settings/retry_count"),
            na_or(u64_at(r, "/settings/batch_timeout_seconds"), |s| format!(
                "{s} s"
            ))
        ),
    );
    let reasons = counts_at(r, "/plan/reasons")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "none".into());
    kv_row(
        b,
        "plan",
        &format!(
            "planned because: {reasons}; {} prefix(es) listed; listing and planning {}",
            n("/plan/prefixes"),
            na_or(f64_at(r, "/plan/listing_seconds"), seconds)
        ),
    );
    kv_row(
        b,
        "bytes",
        &format!(
            "planned {} · skipped {} · copied {}",
            by("/totals/bytes_planned"),
            by("/totals/bytes_skipped"),
            by("/totals/bytes_copied")
        ),
    );
    kv_row(
        b,
        "batches and retries",
        &format!(
            "{} batches · {} retried · {} throttled",
            n("/totals/batches"),
            n("/totals/retried"),
            n("/totals/throttled")
        ),
    );
    kv_row(
        b,
        "throughput",
        &format!(
            "{} files/s · {}/s · {} inside batches",
            na_or(f64_at(r, "/throughput/files_per_s"), |v| format!("{v:.1}")),
            na_or(f64_at(r, "/throughput/bytes_per_s"), |v| bytes(
                v.max(0.0) as u64
            )),
            na_or(f64_at(r, "/throughput/copy_seconds"), seconds)
        ),
    );
    let kinds = counts_at(r, "/operations/by_kind").unwrap_or_else(|| NA.into());
    kv_row(
        b,
        "operations",
        &format!(
            "{kinds}; {} s5cmd ops in {} processes · {} ops/file · {} transfers/file · {} written locally · {} unparsed lines",
            n("/operations/s5cmd_ops"),
            n("/operations/s5cmd_processes"),
            na_or(f64_at(r, "/operations/per_file"), |v| format!("{v:.2}")),
            na_or(
                f64_at(r, "/operations/network_transfers_per_file"),
                |v| format!("{v:.2}")
            ),
            by("/operations/local_bytes_written"),
            n("/operations/unparsed_lines")
        ),
    );
    kv_row(
        b,
        "integrity",
        &format!(
            "{} checksums verified · {} uploaded unverified",
            n("/integrity/checksums_verified"),
            n("/integrity/unverified")
        ),
    );
    let resources = match at(r, "/resources") {
        Some(res) => format!(
            "memory peak {} (lakesync {}, s5cmd {}) · CPU average {}% peak {}% of the machine ({} logical CPUs) · {} samples every {} ms",
            na_or(u64_at(res, "/total_rss_peak_bytes"), bytes),
            na_or(u64_at(res, "/rss_peak_bytes"), bytes),
            na_or(u64_at(res, "/child_rss_peak_bytes"), bytes),
            na_or(f64_at(res, "/cpu_avg_pct"), |v| format!("{v:.1}")),
            na_or(f64_at(res, "/cpu_peak_pct"), |v| format!("{v:.1}")),
            na_or(u64_at(res, "/logical_cpus"), count),
            na_or(u64_at(res, "/samples"), count),
            na_or(u64_at(res, "/interval_ms"), count),
        ),
        None => "not sampled (--no-sampling, --dry-run, or an older report)".into(),
    };
    kv_row(b, "resources", &resources);
    kv_row(
        b,
        "lakesync itself",
        &format!(
            "{} CPU · sampler {}",
            na_or(f64_at(r, "/lakesync_cpu_seconds"), seconds),
            na_or(f64_at(r, "/sampler_overhead_ms"), |v| format!("{v:.1} ms"))
        ),
    );
    b.push_str("</tbody></table>");
}

// ---------------------------------------------------------------------------------------
// The history page.

/// Render a history summary (`serde_json::to_value(crate::report::history::HistorySummary)`) as a
/// page: runs over time, success rate over time, SLA compliance per check, worst batches.
pub fn render_history(summary: &Value) -> String {
    let s = summary;
    let rows = array_at(s, "/rows");
    let mut b = String::new();
    history_cards(&mut b, s, rows);
    history_charts(&mut b, rows);
    sla_compliance(&mut b, s);
    worst_batches(&mut b, s);
    history_rows(&mut b, rows);
    let _ = write!(
        b,
        "<footer>rendered by lakesync {}</footer>",
        env!("CARGO_PKG_VERSION")
    );
    page("lakesync history", &b)
}

/// The history page's title line and its cards (totals over every run).
fn history_cards(b: &mut String, s: &Value, rows: &[Value]) {
    let runs = u64_at(s, "/runs");
    let _ = write!(
        b,
        r#"<header><h1>lakesync history</h1><p class="sub">{}{}</p></header>"#,
        na_or(runs, |n| plural(n, "run", "runs")),
        match (
            rows.first().and_then(|x| str_at(x, "/finished_at")),
            rows.last().and_then(|x| str_at(x, "/finished_at"))
        ) {
            (Some(a), Some(z)) => format!(", {} to {}", Esc(a), Esc(z)),
            _ => String::new(),
        }
    );
    b.push_str(r#"<div class="cards">"#);
    card(b, "runs", &na_or(runs, count), "in the history file", false);
    card(
        b,
        "success",
        &na_or(f64_at(s, "/success_rate_overall"), |v| format!("{v:.2}%")),
        "copied of planned, all runs",
        false,
    );
    count_card(b, "planned", u64_at(s, "/planned_total"), "all runs", false);
    count_card(b, "copied", u64_at(s, "/copied_total"), "all runs", false);
    count_card(b, "failed", u64_at(s, "/failed_total"), "all runs", true);
    count_card(
        b,
        "unreadable lines",
        u64_at(s, "/unreadable_lines"),
        "skipped",
        true,
    );
    b.push_str("</div>");
}

/// Runs over time: objects per run, and the success rate against the SLA's thresholds.
fn history_charts(b: &mut String, rows: &[Value]) {
    let date = |x: Option<&Value>| {
        x.and_then(|x| str_at(x, "/finished_at"))
            .map(|t| t.get(..10).unwrap_or(t).to_string())
    };
    let (first, last) = (date(rows.first()), date(rows.last()));
    let col = |k: &str| -> Vec<Option<f64>> {
        rows.iter().map(|x| f64_at(x, &format!("/{k}"))).collect()
    };
    let nodata = "no data: the history has no runs".to_string();
    let success = col("success_rate");
    // Zoom in on the band the thresholds live in unless a run fell far below it.
    let lowest = success.iter().flatten().copied().fold(100.0, f64::min);
    // Floors whose range to 100 divides into round steps (2.5, 10, 25).
    let success_floor = if lowest >= 90.0 {
        90.0
    } else if lowest >= 60.0 {
        60.0
    } else {
        0.0
    };
    b.push_str(r#"<h2>Runs over time</h2><div class="charts">"#);
    render_chart(
        b,
        &Chart {
            title: "Objects per run",
            unit: "count",
            x_noun: ("run", "runs"),
            x_first: first.clone(),
            x_last: last.clone(),
            y_min: 0.0,
            y_max: None,
            thresholds: vec![],
            series: vec![
                Series {
                    label: "planned",
                    colour: 1,
                    dashed: false,
                    mark: Mark::Bars,
                    values: col("planned"),
                },
                Series {
                    label: "failed",
                    colour: 3,
                    dashed: false,
                    mark: Mark::Line,
                    values: col("failed"),
                },
            ],
            nodata: nodata.clone(),
        },
    );
    render_chart(
        b,
        &Chart {
            title: "Success rate per run",
            unit: "% copied of planned; dashed: 98% warning, 95% critical",
            x_noun: ("run", "runs"),
            x_first: first,
            x_last: last,
            y_min: success_floor,
            y_max: Some(100.0),
            thresholds: vec![
                Threshold {
                    value: crate::report::sla::SUCCESS_WARNING_BELOW_PCT,
                    class: "warn",
                },
                Threshold {
                    value: crate::report::sla::SUCCESS_CRITICAL_BELOW_PCT,
                    class: "crit",
                },
            ],
            series: vec![Series {
                label: "success %",
                colour: 1,
                dashed: false,
                mark: Mark::Line,
                values: success,
            }],
            nodata: "no data: no run planned anything".into(),
        },
    );
    b.push_str("</div>");
}

fn sla_compliance(b: &mut String, s: &Value) {
    b.push_str("<h2>SLA compliance per check</h2>");
    let Some(checks) = at(s, "/sla")
        .and_then(Value::as_object)
        .filter(|o| !o.is_empty())
    else {
        b.push_str(r#"<p class="note">No SLA checks recorded.</p>"#);
        return;
    };
    let row_h = 30.0;
    let h = checks.len() as f64 * row_h + 8.0;
    let (x0, x1) = (130.0, 440.0);
    let _ = write!(
        b,
        r#"<div class="charts"><figure><figcaption>Runs per status <span class="legend">ok / warning / critical, as a share of the runs that recorded the check</span></figcaption><svg class="chart" viewBox="0 0 {VIEW_W} {h}" role="img" aria-label="SLA compliance per check"><title>SLA compliance per check</title>"#
    );
    let mut table = String::from(
        r#"<table><thead><tr><th>check</th><th class="n">ok</th><th class="n">warning</th><th class="n">critical</th><th class="n">ok share</th></tr></thead><tbody>"#,
    );
    for (i, (name, c)) in checks.iter().enumerate() {
        let ok = u64_at(c, "/ok").unwrap_or(0);
        let warn = u64_at(c, "/warning").unwrap_or(0);
        let crit = u64_at(c, "/critical").unwrap_or(0);
        let total = ok + warn + crit;
        let y = 6.0 + i as f64 * row_h;
        // Long names are cut here; the table has them whole.
        let label: String = if name.chars().count() > 18 {
            name.chars().take(17).chain(['…']).collect()
        } else {
            name.clone()
        };
        let _ = write!(
            b,
            r#"<text x="0" y="{:.1}" class="lbl">{}</text>"#,
            y + 15.0,
            Esc(&label)
        );
        let mut x = x0;
        for (k, class) in [(ok, "fok"), (warn, "fwarn"), (crit, "fcrit")] {
            let w = if total == 0 {
                0.0
            } else {
                k as f64 / total as f64 * (x1 - x0)
            };
            let _ = write!(
                b,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{:.1}" class="{class}"/>"#,
                row_h - 10.0
            );
            x += w;
        }
        let share = (total > 0).then(|| ok as f64 * 100.0 / total as f64);
        let _ = write!(
            b,
            r#"<text x="{:.1}" y="{:.1}" class="val">{} ok</text>"#,
            x1 + 8.0,
            y + 15.0,
            na_or(share, |v| format!("{v:.0}%"))
        );
        let _ = write!(
            table,
            r#"<tr><td class="mono">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            Esc(name),
            count(ok),
            count(warn),
            count(crit),
            na_or(share, |v| format!("{v:.1}%"))
        );
    }
    b.push_str("</svg></figure><div>");
    b.push_str(&table);
    b.push_str("</tbody></table></div></div>");
}

fn worst_batches(b: &mut String, s: &Value) {
    b.push_str("<h2>Slowest batches</h2>");
    table_or_note(
        b,
        array_at(s, "/worst_batches"),
        "No batch times recorded.",
        r#"<th class="n">seconds</th><th>run finished at</th><th>mode</th>"#,
        |b, w| {
            let _ = write!(
                b,
                r#"<tr><td class="n">{}</td><td>{}</td><td>{}</td></tr>"#,
                na_or(f64_at(w, "/worst_batch_seconds"), |v| format!("{v:.2}")),
                Esc(str_at(w, "/finished_at").unwrap_or(NA)),
                Esc(str_at(w, "/mode").unwrap_or(NA))
            );
        },
    );
}

fn history_rows(b: &mut String, rows: &[Value]) {
    let skipped = rows.len().saturating_sub(MAX_HISTORY_ROWS);
    let _ = write!(b, "<h2>Runs ({})</h2>", count(rows.len() as u64));
    if skipped > 0 {
        let _ = write!(
            b,
            r#"<p class="note">The last {} runs, newest first; {} earlier runs are in the charts only.</p>"#,
            count(MAX_HISTORY_ROWS as u64),
            count(skipped as u64)
        );
    }
    let shown: Vec<&Value> = rows[skipped..].iter().rev().collect();
    table_or_note(
        b,
        &shown,
        "No runs.",
        r#"<th>finished at</th><th>mode</th><th class="n">planned</th><th class="n">copied</th><th class="n">failed</th><th class="n">success</th><th>SLA</th><th>exit</th>"#,
        |b, x| {
            let exit = at(x, "/exit_code").and_then(Value::as_i64);
            let _ = write!(
                b,
                r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td><td>{}</td></tr>"#,
                Esc(str_at(x, "/finished_at").unwrap_or(NA)),
                Esc(str_at(x, "/mode").unwrap_or(NA)),
                na_or(u64_at(x, "/planned"), count),
                na_or(u64_at(x, "/copied"), count),
                na_or(u64_at(x, "/failed"), count),
                na_or(f64_at(x, "/success_rate"), |v| format!("{v:.2}%")),
                sla_badge(str_at(x, "/sla")),
                match exit {
                    Some(c) => {
                        let (word, _, _) = exit_meaning(c);
                        format!("{c} {}", Esc(&word.to_lowercase()))
                    }
                    None => NA.into(),
                }
            );
        },
    );
}

/// A table of `rows` under the header cells `columns`, each row written by `row`; the note
/// `empty` in its place when there are none.
fn table_or_note<T>(
    b: &mut String,
    rows: &[T],
    empty: &str,
    columns: &str,
    mut row: impl FnMut(&mut String, &T),
) {
    if rows.is_empty() {
        let _ = write!(b, r#"<p class="note">{empty}</p>"#);
        return;
    }
    let _ = write!(b, "<table><thead><tr>{columns}</tr></thead><tbody>");
    for r in rows {
        row(b, r);
    }
    b.push_str("</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOSTILE: &str = r#"<script>alert(1)</script> & "q""#;

    fn batch(i: usize, workers: u32, seconds: f64) -> Value {
        json!({
            "index": i, "files": 20, "copied": 20, "failed": 0, "bytes": 1000, "attempts": 1,
            "seconds": seconds, "workers": workers, "rss_peak_bytes": 30_000_000 + i * 1_000_000,
            "cpu_avg_pct": 10.0 + i as f64, "cpu_peak_pct": 20.0 + i as f64,
            "next_workers": workers, "governor": "hold"
        })
    }

    fn report(batches: Vec<Value>, failures: Vec<Value>) -> Value {
        json!({
            "format_version": 1,
            "tool": {"name": "lakesync", "version": "0.1.0", "s5cmd_version": "v2.3.0", "s5cmd_path": "/bin/s5cmd"},
            "command": "sync", "mode": "direct", "dry_run": false, "interrupted": false,
            "source": "s3://src/", "dest": "s3://dst/", "selection": null, "shard": null,
            "started_at": "2025-01-01T00:00:00Z", "finished_at": "2025-01-01T00:00:03Z",
            "duration_seconds": 3.2,
            "totals": {"selected": 60, "planned": 60, "skipped": 0, "copied": 59, "failed": 1,
                       "validated": 59, "fallback": 0, "bytes_copied": 59_000, "bytes_planned": 60_000},
            "batches": batches,
            "failures": failures,
            "failures_omitted": 0,
            "sla": [{"name": "success_rate", "target": ">= 99%", "actual": "98.33%", "status": "warning", "value": 98.33}],
            "sla_status": "warning",
            "exit_code": 1
        })
    }

    /// Every `d="..."` in the page.
    fn path_data(html: &str) -> Vec<&str> {
        html.split(" d=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            Esc(HOSTILE).to_string(),
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(Esc("it's").to_string(), "it&#39;s");
        assert_eq!(Esc("plain").to_string(), "plain");
    }

    #[test]
    fn hostile_key_is_escaped_everywhere() {
        let fail = json!({"key": HOSTILE, "source": HOSTILE, "error": HOSTILE, "class": HOSTILE, "attempts": 3});
        let mut r = report(vec![batch(0, 16, 1.0)], vec![fail]);
        r["source"] = json!(HOSTILE);
        r["selection"] = json!(HOSTILE);
        r["sla"][0]["name"] = json!(HOSTILE);
        r["sla"][0]["status"] = json!(HOSTILE);
        r["error"] = json!({"message": HOSTILE, "hint": HOSTILE});
        let html = render_run(&r);
        assert!(!html.contains("<script"), "raw script tag in the page");
        assert!(!html.contains(r#""q""#));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;"));
        // An unknown status never becomes a class name.
        assert!(html.contains(r#"class="badge st-na""#));
    }

    #[test]
    fn dry_run_and_empty_reports_say_no_data() {
        let mut dry = report(vec![], vec![]);
        dry["dry_run"] = json!(true);
        dry["exit_code"] = json!(0);
        dry["sla"] = json!([]);
        let html = render_run(&dry);
        assert!(html.contains("no data: a dry run runs no batches"));
        assert!(html.contains("DRY RUN"));

        for empty in [
            json!({}),
            json!(null),
            json!([1, 2]),
            json!({"batches": "x", "totals": 3}),
        ] {
            let html = render_run(&empty);
            assert!(html.contains("no data"), "{empty}");
            assert!(html.contains(NA));
            assert!(html.ends_with("</html>\n"));
            let html = render_history(&empty);
            assert!(html.contains("no data"), "{empty}");
        }
    }

    #[test]
    fn three_batches_draw_paths_with_data() {
        let r = report(
            vec![batch(0, 16, 1.0), batch(1, 24, 0.8), batch(2, 12, 1.5)],
            vec![],
        );
        let html = render_run(&r);
        let data = path_data(&html);
        // Grid and axis of four charts, plus: bars, a step line, one line, two lines.
        assert!(data.len() >= 4 * 2 + 5, "{data:?}");
        assert!(
            data.iter().all(|d| d.starts_with('M') && d.len() > 3),
            "{data:?}"
        );
        assert!(!html.contains("no data"));
        // Three bars in the throughput chart.
        assert!(data.iter().any(|d| d.matches('Z').count() == 3));
        // The step line goes up (16 -> 24) and down (24 -> 12): two vertical moves.
        assert!(
            data.iter()
                .any(|d| d.matches('V').count() == 2 && d.matches('H').count() == 3)
        );
        assert!(html.contains("<rect"));
        assert!(html.contains("WARNING"));
        assert!(html.contains("1: some objects failed"));
    }

    #[test]
    fn long_runs_are_downsampled_and_stay_small() {
        let batches: Vec<Value> = (0..7000)
            .map(|i| batch(i, 10 + (i % 7) as u32, 1.0 + (i % 13) as f64 / 10.0))
            .collect();
        let failures: Vec<Value> = (0..100)
            .map(|i| json!({"key": format!("data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-{i:03}.zip"), "error": "NoSuchKey: The specified key does not exist.", "class": "permanent", "attempts": 1}))
            .collect();
        let html = render_run(&report(batches, failures));
        assert!(html.len() < 200_000, "{} bytes", html.len());
        assert!(html.contains("7,000 batches drawn as 300 buckets"));
        for d in path_data(&html) {
            let vertices = d.matches(['M', 'L', 'H', 'V']).count();
            assert!(vertices <= MAX_POINTS * 2 + 10, "{vertices}");
        }
    }

    #[test]
    fn downsampling_keeps_the_extremes() {
        let mut v: Vec<Option<f64>> = vec![Some(1.0); 10_000];
        v[5_003] = Some(99.0);
        v[7_777] = Some(-5.0);
        let pts = downsample(&v, Mark::Line);
        assert!(pts.len() <= MAX_POINTS);
        let ys: Vec<f64> = pts.iter().flatten().map(|p| p.y).collect();
        assert!(ys.contains(&99.0) && ys.contains(&-5.0));
        let bars = downsample(&v, Mark::Bars);
        assert_eq!(bars.len(), MAX_POINTS / 2);
        assert_eq!(buckets(7, 3), vec![0..2, 2..4, 4..7]);
        assert_eq!(buckets(2, 300), vec![0..1, 1..2]);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(seconds(-1.0), NA);
        assert_eq!(nice_step(100.0), 25.0);
        assert_eq!(nice_step(7.0), 2.0);
    }

    #[test]
    fn history_page_renders_rows() {
        let summary = json!({
            "runs": 2, "success_rate_overall": 95.0, "planned_total": 200, "copied_total": 190,
            "failed_total": 10,
            "rows": [
                {"finished_at": "2025-01-01T00:00:00Z", "mode": "direct", "planned": 100, "copied": 100, "failed": 0, "success_rate": 100.0, "sla": "ok", "exit_code": 0},
                {"finished_at": HOSTILE, "mode": "staged", "planned": 100, "copied": 90, "failed": 10, "success_rate": 90.0, "sla": "critical", "exit_code": 1},
                {"finished_at": "2025-01-03T00:00:00Z", "mode": "direct", "planned": 0, "copied": 0, "failed": 0, "success_rate": null, "sla": "ok", "exit_code": 0}
            ],
            "sla": {"success_rate": {"ok": 2, "warning": 0, "critical": 1}},
            "worst_batches": [{"finished_at": "2025-01-02T00:00:00Z", "mode": "staged", "worst_batch_seconds": 3.4}],
            "unreadable_lines": 0
        });
        let html = render_history(&summary);
        assert!(html.contains("<td>2025-01-03T00:00:00Z</td>"));
        assert!(html.contains("90.00%"));
        assert!(html.contains("CRITICAL"));
        assert!(html.contains("3.40"));
        assert!(html.contains(">67% ok</text>"));
        assert!(html.contains(r#"<td class="n">2</td><td class="n">0</td><td class="n">1</td>"#));
        assert!(!html.contains("<script"));
        assert!(path_data(&html).iter().all(|d| d.starts_with('M')));
        assert!(!html.contains("no data"));
    }

    #[test]
    fn history_summary_from_the_real_type_renders() {
        let text = concat!(
            r#"{"finished_at":"2025-01-01T00:00:00Z","mode":"direct","duration_seconds":1.5,"planned":108,"copied":108,"skipped":0,"failed":0,"bytes_copied":1451267,"rss_peak_bytes":38141952,"cpu_avg_pct":11.2,"sla":[{"name":"memory","target":"t","actual":"a","status":"ok","value":7.6}],"worst_batch_seconds":0.243,"exit_code":0}"#,
            "\n"
        );
        let s = crate::report::history::summarise_reader(text.as_bytes()).expect("summary");
        let html = render_history(&serde_json::to_value(&s).expect("json"));
        assert!(html.contains("1 run,") || html.contains("1 run<"), "{html}");
        assert!(html.contains("0.24"));
    }
}
