//! The report fields the README documents ("Report" table), checked against a real report.

use serde_json::Value;

/// Every field path the README's report table names: `totals.copied`, `batches[].folders`,
/// and the sub-fields listed for `tool`, `settings`, `resources`, `batches[]`, ...
fn documented_fields() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## Report (")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a Report section");
    let ticked = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut fields = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cols: Vec<&str> = row.split(" | ").collect();
        let names = ticked(cols[0]);
        // `totals.planned` / `skipped`: a bare name continues the previous one's parent.
        let mut parent = String::new();
        for n in &names {
            let full = if n.contains('.') || parent.is_empty() {
                n.clone()
            } else {
                format!("{parent}{n}")
            };
            if let Some((p, _)) = full.rsplit_once('.') {
                parent = format!("{p}.");
            }
            fields.push(full);
        }
        // A lone object or array row lists its members in the meaning column (values and
        // flags come after a ';' or inside parentheses).
        if let [one] = names.as_slice()
            && ["tool", "settings", "resources", "batches[]", "failures[]"].contains(&one.as_str())
        {
            let meaning = cols[1].split(';').next().unwrap_or_default();
            let mut plain = String::new();
            let mut depth = 0;
            for c in meaning.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ if depth == 0 => plain.push(c),
                    _ => {}
                }
            }
            for m in ticked(&plain) {
                fields.push(format!("{one}.{m}"));
            }
        }
    }
    assert!(
        fields.len() > 60,
        "README parsed to too few fields: {fields:?}"
    );
    fields
}

/// The value at a documented path; `None` when it is absent. `x[]` steps into the first
/// element of the array `x` (an empty array answers `Some(Null)`: nothing to check).
fn lookup<'a>(report: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = report;
    for part in path.split('.') {
        match part.strip_suffix("[]") {
            Some(array) => {
                let a = cur.get(array)?.as_array()?;
                match a.first() {
                    Some(first) => cur = first,
                    None => return Some(&Value::Null),
                }
            }
            None if cur.is_null() => return Some(cur),
            None => cur = cur.get(part)?,
        }
    }
    Some(cur)
}

/// Every field the README documents is in `report` (a merged report also has
/// `merged_from` and `shards[]`).
pub fn assert_documented_fields(report: &Value, merged: bool) {
    let mut fields = documented_fields();
    if merged {
        fields.extend(["merged_from".to_string(), "shards[]".to_string()]);
    }
    let missing: Vec<&String> = fields
        .iter()
        .filter(|f| lookup(report, f).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "documented report fields missing: {missing:?}\n{report:#}"
    );
}
