//! The config file (`--config PATH`, TOML) and its precedence:
//! command-line flags > `LAKESYNC_*` environment variables > config file > built-in defaults.
//!
//! The file holds any `sync` flag by its long name (`batch-size` or `batch_size`); top-level
//! keys apply to every profile and `[profiles.NAME]` tables override them when
//! `--config-profile NAME` (or `LAKESYNC_CONFIG_PROFILE`) picks one:
//!
//! ```toml
//! dest = "s3://my-lake/binance"
//! workers = 16
//! [profiles.btc-klines]
//! market = "spot"
//! data-type = ["klines"]
//! symbols = ["BTCUSDT", "ETHUSDT"]
//! ```
//!
//! Config values become the defaults of the clap arguments, so clap itself applies the
//! precedence: a flag beats its environment variable, which beats the default.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Command;

use crate::error::Error;

/// Flag values from a config file: clap argument id -> value as typed on a command line.
pub type Values = BTreeMap<String, String>;

fn to_arg_value(key: &str, v: &toml::Value) -> Result<String, Error> {
    let bad = || {
        Error::usage(
            format!("config key {key:?} has a value of an unsupported type"),
            "use a string, number, boolean, or a list of strings",
        )
    };
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| match i {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(n) => Ok(n.to_string()),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(","),
        _ => return Err(bad()),
    })
}

/// Parse config text and pick the profile.
pub fn parse(text: &str, origin: &str, profile: Option<&str>) -> Result<Values, Error> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        Error::usage(
            format!("config file {origin} is not valid TOML: {}", e.message()),
            "fix the file; keys are sync flag names, e.g. batch-size = 150",
        )
    })?;
    let mut values = Values::new();
    let mut profiles: Option<&toml::Table> = None;
    for (k, v) in &table {
        if k == "profiles" {
            profiles = v.as_table();
            if profiles.is_none() {
                return Err(Error::usage(
                    format!("config file {origin}: `profiles` must be a table of tables"),
                    "write [profiles.NAME] sections",
                ));
            }
            continue;
        }
        values.insert(k.replace('-', "_"), to_arg_value(k, v)?);
    }
    if let Some(name) = profile {
        let section = profiles
            .and_then(|p| p.get(name))
            .and_then(toml::Value::as_table)
            .ok_or_else(|| {
                let known: Vec<&str> = profiles
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                Error::usage(
                    format!("config profile {name:?} is not in {origin}"),
                    if known.is_empty() {
                        "add a [profiles.NAME] section, or drop --config-profile".to_string()
                    } else {
                        format!("pick one of: {}", known.join(", "))
                    },
                )
            })?;
        for (k, v) in section {
            values.insert(k.replace('-', "_"), to_arg_value(k, v)?);
        }
    }
    Ok(values)
}

pub fn load(path: &Path, profile: Option<&str>) -> Result<Values, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(
            format!("cannot read config file {}: {e}", path.display()),
            "check the --config path (or LAKESYNC_CONFIG)",
        )
    })?;
    parse(&text, &path.display().to_string(), profile)
}

/// Find `--config PATH` / `--config-profile NAME` in the raw arguments, else in the
/// environment (`LAKESYNC_CONFIG`, `LAKESYNC_CONFIG_PROFILE`).
pub fn locate(args: &[OsString]) -> (Option<PathBuf>, Option<String>) {
    let mut path = None;
    let mut profile = None;
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if let Some(v) = a.strip_prefix("--config=") {
            path = Some(PathBuf::from(v));
        } else if a == "--config" {
            path = it.next().map(PathBuf::from);
        } else if let Some(v) = a.strip_prefix("--config-profile=") {
            profile = Some(v.to_string());
        } else if a == "--config-profile" {
            profile = it.next();
        }
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    (
        path.or_else(|| env("LAKESYNC_CONFIG").map(PathBuf::from)),
        profile.or_else(|| env("LAKESYNC_CONFIG_PROFILE")),
    )
}

/// The known name most like `key`, if one is close (the measure and threshold clap uses
/// for its own "similar argument" tips, so a typo gets the same help in both places).
fn closest<'a>(key: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    known
        .map(|k| (strsim::jaro(key, k), k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// Make the config values the defaults of the `sync` and `verify` arguments.
pub fn apply(mut cmd: Command, values: &Values) -> Result<Command, Error> {
    let Some(sync) = cmd.find_subcommand("sync") else {
        return Ok(cmd);
    };
    let known: Vec<String> = sync
        .get_arguments()
        .filter(|a| a.get_long().is_some())
        .map(|a| a.get_id().to_string())
        .collect();
    let settable = |k: &str| k != "config" && k != "config_profile";
    for key in values.keys() {
        if !known.contains(key) || !settable(key) {
            let names = known.iter().filter(|k| settable(k));
            let hint = match closest(key, names) {
                Some(k) => format!(
                    "did you mean {}? config keys are the long flag names of `lakesync sync --help`",
                    k.replace('_', "-")
                ),
                None => "use the long flag names of `lakesync sync --help`, e.g. batch-size, dest, market"
                    .to_string(),
            };
            return Err(Error::usage(
                format!("config key {:?} is not a sync flag", key.replace('_', "-")),
                hint,
            ));
        }
    }
    for sub in ["sync", "verify", "plan"] {
        cmd = cmd.mut_subcommand(sub, |mut c| {
            for (k, v) in values {
                let v = v.clone();
                c = c.mut_arg(k.as_str(), |a| a.default_value(v).required(false));
            }
            c
        });
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    const FILE: &str = r#"
dest = "s3://lake/binance"
workers = 8
dry-run = false
[profiles.btc]
symbols = ["BTCUSDT", "ETHUSDT"]
market = "spot"
batch_size = 50
"#;

    fn parse_with(values: &Values, argv: &[&str]) -> crate::cli::SyncArgs {
        let cmd = apply(crate::cli::Cli::command(), values).unwrap();
        let m = cmd.try_get_matches_from(argv).unwrap();
        match crate::cli::Cli::from_arg_matches(&m).unwrap().command {
            crate::cli::Command::Sync(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn profiles_override_the_top_level() {
        let v = parse(FILE, "t.toml", Some("btc")).unwrap();
        assert_eq!(v["symbols"], "BTCUSDT,ETHUSDT");
        assert_eq!(v["batch_size"], "50");
        assert_eq!(v["workers"], "8");
        let plain = parse(FILE, "t.toml", None).unwrap();
        assert!(!plain.contains_key("symbols"));
        let e = parse(FILE, "t.toml", Some("nope")).unwrap_err();
        assert!(
            e.message().contains("nope") && e.hint().contains("btc"),
            "{e:?}"
        );
    }

    #[test]
    fn precedence_flags_then_env_then_config_then_defaults() {
        let v = parse(FILE, "t.toml", Some("btc")).unwrap();
        // Config fills what the command line leaves out, including a required flag.
        let a = parse_with(&v, &["lakesync", "sync"]);
        assert_eq!(a.dest, "s3://lake/binance");
        assert_eq!(a.tuning.workers, 8);
        assert_eq!(a.tuning.batch_size, 50);
        assert_eq!(a.selection.symbols, vec!["BTCUSDT", "ETHUSDT"]);
        assert_eq!(a.tuning.attempts.attempts, 3, "built-in default");
        // A flag beats the config.
        let a = parse_with(
            &v,
            &[
                "lakesync",
                "sync",
                "--workers",
                "4",
                "--dest",
                "s3://other/x",
            ],
        );
        assert_eq!(a.tuning.workers, 4);
        assert_eq!(a.dest, "s3://other/x");
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_clear_errors() {
        let v = parse("bogus-flag = 1", "t.toml", None).unwrap();
        let e = apply(crate::cli::Cli::command(), &v).unwrap_err();
        assert!(e.message().contains("bogus-flag"), "{e:?}");
        assert!(!e.hint().contains("did you mean"), "{e:?}");
        // Issue 15 item 9: a typo gets the flag it meant, as other unknown values do.
        for (typo, meant) in [
            ("workerz", "workers"),
            ("batch-sise", "batch-size"),
            ("dets", "dest"),
        ] {
            let v = parse(&format!("{typo} = 1"), "t.toml", None).unwrap();
            let e = apply(crate::cli::Cli::command(), &v).unwrap_err();
            assert!(e.message().contains(typo), "{e:?}");
            assert!(
                e.hint().contains(&format!("did you mean {meant}?")),
                "{e:?}"
            );
        }
        let e = parse("workers = ", "t.toml", None).unwrap_err();
        assert!(e.message().contains("t.toml"), "{e:?}");
    }

    #[test]
    fn locates_the_config_in_args() {
        let args: Vec<OsString> = [
            "lakesync",
            "sync",
            "--config",
            "a.toml",
            "--config-profile=p",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let (p, prof) = locate(&args);
        assert_eq!(p.unwrap(), PathBuf::from("a.toml"));
        assert_eq!(prof.as_deref(), Some("p"));
    }
}
