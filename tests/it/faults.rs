//! Faults on the wire: a seeded fault-injecting proxy between the real s5cmd and moto.

use crate::common::{Seed, Sync, assert_mirrors, assert_totals, batch_counts};
use crate::support::fault_proxy::{Fault, FaultConfig, FaultProxy};

#[test]
fn ten_percent_of_copies_faulted_every_object_still_lands_and_validates() {
    let (moto, _dir) = Seed::archives(500).start(); // 1,000 objects
    // 10% of copy requests (PUT) get a 503 SlowDown, a 500 or a connection reset.
    let proxy = FaultProxy::on_puts(
        &moto.url,
        FaultConfig {
            seed: 42,
            slowdown: 0.02,
            internal_error: 0.05,
            reset: 0.03,
            ..FaultConfig::none()
        },
    );
    let run = Sync::through(&proxy)
        .mode("direct")
        .attempts(5)
        .batch_size(200)
        .workers(32)
        .run();
    let (r, stats) = run.report_through(&proxy);
    assert_totals(&r, &[("copied", 1000), ("validated", 1000)]);
    let faults = stats.slowdown + stats.internal_error + stats.reset;
    assert!(faults >= 50, "{stats:?}");
    // Every fault cost a retry of that object, and the report says so.
    assert!(
        r["totals"]["retried"].as_u64().unwrap() >= faults,
        "{}",
        r["totals"]
    );
    assert!(r["totals"]["throttled"].as_u64().unwrap() >= 1);
    let attempts = batch_counts(&r, "attempts");
    assert!(attempts.iter().any(|&a| a >= 2), "{attempts:?}");
    // Independent check, straight against the server.
    assert_eq!(moto.list("src", "").len(), 1000);
    assert_mirrors(&moto, "src", &moto, "dst", "");
}

#[test]
fn every_copy_faulted_is_a_clear_failure_and_nothing_is_claimed() {
    let (moto, _dir) = Seed::archives(10).start();
    let proxy = FaultProxy::on_puts(&moto.url, FaultConfig::always(Fault::InternalError));
    let run = Sync::through(&proxy).mode("direct").attempts(2).run();
    let r = run.exited(1).report();
    assert_totals(&r, &[("copied", 0), ("validated", 0), ("failed", 20)]);
    for f in r["failures"].as_array().unwrap() {
        assert!(
            f["error"].as_str().unwrap().contains("InternalError"),
            "{f}"
        );
        // A CHECKSUM is never tried without its zip in place (issue 15 item 5).
        if f["key"].as_str().unwrap().ends_with(".CHECKSUM") {
            assert!(
                f["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("not copied: its zip"),
                "{f}"
            );
            assert_eq!(f["attempts"], 0, "{f}");
        } else {
            assert_eq!(f["attempts"], 2, "{f}");
        }
    }
    assert!(moto.list("dst", "").is_empty());
    run.assert_stderr_contains("FAILED");
}
