//! Validation overlapping the copying (issue 13): each batch's copies are checked against a
//! destination listing while the next batches copy, and an object that s5cmd reported
//! copied but the destination does not hold is a failure of its own.

use crate::common::{Seed, Sync};

#[test]
fn a_copy_lost_after_its_success_line_fails_validation_while_later_batches_copy() {
    let (moto, _dir) = Seed::archives(24).with_real().start();
    let source = moto.list("src", "");
    let lost = source
        .keys()
        .find(|k| k.ends_with(".zip"))
        .expect("a zip in the fixture")
        .clone();
    // The fake s5cmd deletes the zip at the destination after every copy run (its success
    // line already printed), and paces success lines so that each batch takes a while.
    let run = Sync::new(&moto)
        .dest("s3://dst/lake")
        .fake_s5cmd()
        .batch_size(6)
        .workers(2)
        .arg("--fixed-workers")
        .arg("--no-folder-copies")
        .arg("-v")
        .env("LAKESYNC_FAKE_PACE_MS", "120")
        .env(
            "LAKESYNC_FAKE_AFTER_RUN",
            &format!("rm s3://dst/lake/{lost}"),
        )
        .run();
    assert_eq!(run.code, 1, "stderr: {}", run.stderr);
    let r = run.report();
    let n = source.len() as u64;
    assert_eq!(r["totals"]["copied"], n, "{}", run.stderr);
    assert_eq!(r["totals"]["validated"], n - 1);
    assert_eq!(r["totals"]["failed"], 1);
    let failures = r["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["key"], format!("lake/{lost}"));
    assert_eq!(failures[0]["class"], "integrity");
    assert_eq!(
        failures[0]["error"],
        "validation: not found at the destination after the copy"
    );
    // Validation listed only the copied keys' folders, and began before the copying ended:
    // a check is logged before the last batch is.
    assert!(r["listing"]["validation"]["prefixes"].as_u64().unwrap() >= 1);
    let first_check = run
        .stderr
        .find("validation: copies checked")
        .unwrap_or_else(|| panic!("no validation check logged: {}", run.stderr));
    let last_batch = run.stderr.rfind("batch done").expect("batches logged");
    assert!(
        first_check < last_batch,
        "the first check came after the last batch: {}",
        run.stderr
    );
}
