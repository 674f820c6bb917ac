//! Configuration precedence on the real binary: flags > LAKESYNC_* env > config file >
//! built-in defaults. Each layer is told apart by a value only it sets.

use crate::common::snapshot::assert_cli;
use crate::common::{closed_port_url, lakesync_with, temp_file};

#[test]
fn flags_beat_env_beat_config_beat_defaults() {
    let (dir, cfg) = temp_file(
        "lakesync.toml",
        "dest = \"s3://cfg-bucket/x\"\nsource = \"s3://cfg-source\"\n\
         [profiles.small]\nbatch-size = 0\n[profiles.ok]\nbatch-size = 20\n",
    );
    let cfg = cfg.to_str().unwrap();
    // A closed port: settings that validate end in exit 3 (endpoint unreachable) at once.
    let url = closed_port_url();
    let base = ["sync", "--config", cfg, "--endpoint-url", url.as_str()];

    // Config alone: its batch-size 0 is refused, naming the value.
    let mut a = base.to_vec();
    a.extend(["--config-profile", "small"]);
    let run = lakesync_with(&a, &[]);
    run.assert_refused("--batch-size value 0");
    assert_cli("batch_size_0_from_the_config", &run);
    // Env beats config.
    let run = lakesync_with(&a, &[("LAKESYNC_BATCH_SIZE", "1001")]);
    run.assert_refused("1001");
    assert_cli("batch_size_1001_from_the_env", &run);
    // The flag beats env: settings validate, the run reaches the endpoint probe.
    let mut f = a.clone();
    f.extend(["--batch-size", "7"]);
    let run = lakesync_with(&f, &[("LAKESYNC_BATCH_SIZE", "1001")]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains(&url), "{}", run.stderr);
    // Profile picked from the environment; the config supplied the required --dest.
    let run = lakesync_with(&base, &[("LAKESYNC_CONFIG_PROFILE", "ok")]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    // Unknown profile and unknown keys are clear usage errors.
    let mut u = base.to_vec();
    u.extend(["--config-profile", "nope"]);
    let run = lakesync_with(&u, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("nope") && run.stderr.contains("hint:"),
        "{}",
        run.stderr
    );
    assert_cli("unknown_profile", &run);
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "wrokers = 3\n").unwrap();
    let run = lakesync_with(&["sync", "--config", bad.to_str().unwrap()], &[]);
    run.assert_refused("wrokers");
    assert_cli("unknown_config_key", &run);
}
