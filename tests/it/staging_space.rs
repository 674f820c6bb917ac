//! Staged mode on a small disk (issue 15 items 4 and 5), with the real s5cmd against moto:
//! an 8 MiB tmpfs as `--temp-dir` and three 3 MB zips. What fits goes; the zip that does not
//! fit fails with a message that states the reserve and names `--temp-dir` and
//! `--max-local-bytes`; its CHECKSUM (92 bytes, it would fit) is not uploaded without it.
//!
//! Mounting a tmpfs needs root (CI runs as root); elsewhere the test says so and skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::common::{Moto, Sync, assert_totals};

const FOLDER: &str = "data/spot/daily/klines/BTCUSDT/1m/";

/// An 8 MiB tmpfs, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Result<Tmpfs, String> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn zip_body(seed: u8) -> Vec<u8> {
    (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(31) as u8) ^ seed)
        .collect()
}

#[test]
fn a_small_temp_disk_stages_what_fits_and_keeps_the_rest_with_its_checksum() {
    let tmpfs = match Tmpfs::mount() {
        Ok(t) => t,
        Err(why) => {
            eprintln!("SKIPPED: cannot mount an 8 MiB tmpfs ({why}); run as root to test this");
            return;
        }
    };
    let moto = Moto::with_buckets(&["src", "dst"]);
    let local = tempfile::tempdir().unwrap();
    let mut keys: Vec<String> = Vec::new();
    for (i, day) in ["01", "02", "03"].iter().enumerate() {
        let name = format!("BTCUSDT-1m-2024-01-{day}.zip");
        let body = zip_body(i as u8);
        let digest = Sha256::digest(&body);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let dir: PathBuf = local.path().join(FOLDER);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(&name), &body).unwrap();
        std::fs::write(
            dir.join(format!("{name}.CHECKSUM")),
            format!("{hex}  {name}\n"),
        )
        .unwrap();
        keys.push(format!("{FOLDER}{name}"));
    }
    moto.upload_dir(&local.path().join(FOLDER), "src", FOLDER);
    assert_eq!(moto.list("src", "").len(), 6);

    let r = Sync::new(&moto)
        .mode("staged")
        .temp_dir(tmpfs.path())
        .arg("--no-sampling")
        .run()
        .exited(1)
        .report();
    assert_totals(&r, &[("copied", 4), ("validated", 4)]);
    assert_eq!(r["integrity"]["checksums_verified"], 2);
    let failures = r["failures"].as_array().unwrap();
    let failed: Vec<&str> = failures
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    let (zip3, cs3) = (keys[2].clone(), format!("{}.CHECKSUM", keys[2]));
    assert_eq!(failed, [zip3.as_str(), cs3.as_str()], "{failures:?}");
    let why = failures[0]["error"].as_str().unwrap();
    for needed in [
        "3000000 bytes",
        "reserve",
        "64 MiB",
        "--temp-dir",
        "--max-local-bytes",
    ] {
        assert!(why.contains(needed), "{needed:?} not in {why:?}");
    }
    let why_cs = failures[1]["error"].as_str().unwrap();
    assert!(why_cs.starts_with("not uploaded: its zip"), "{why_cs}");
    let dest = moto.list("dst", "");
    let mut landed: Vec<&str> = dest.keys().map(String::as_str).collect();
    landed.sort_unstable();
    let expect: Vec<String> = keys[..2]
        .iter()
        .flat_map(|k| [k.clone(), format!("{k}.CHECKSUM")])
        .collect();
    assert_eq!(
        landed,
        expect.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // Nothing of the run is left on the small disk.
    assert_eq!(std::fs::read_dir(tmpfs.path()).unwrap().count(), 0);
}
