//! Credentials and region for lakesync's own S3 requests, resolved the way s5cmd v2.3.0
//! resolves them (aws-sdk-go v1 with shared config enabled), so that lakesync cleans up with
//! exactly the identity that uploaded:
//!
//! 1. an explicit profile (`--dest-profile`): the shared credentials file, then the config file;
//! 2. else `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`;
//! 3. else the profile in `AWS_PROFILE` (or `default`) from the same files.
//!
//! Files: `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`) and `AWS_CONFIG_FILE`
//! (default `~/.aws/config`, sections named `[profile NAME]`). Instance and container roles
//! (IMDS, ECS, web identity) are not resolved here: such a run cannot abort what it left, and
//! says so (the lifecycle rule in the README covers it).

use std::collections::HashMap;
use std::path::PathBuf;

use super::S3ApiError;

/// Static keys for signing. `Debug` never shows the secrets.
#[derive(Clone)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where the environment lookups come from (the process environment, or a map in tests).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment; empty values count as unset (as in the Go SDK).
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| (*v).to_string())
            .filter(|v| !v.is_empty())
    }
}

/// Sections of an INI-style AWS file: section name -> key -> value (keys lower-cased).
fn parse_ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut section: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_string();
            out.entry(name.clone()).or_default();
            section = Some(name);
            continue;
        }
        if let (Some(s), Some((k, v))) = (&section, line.split_once('=')) {
            out.entry(s.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

fn home_file(env: &dyn Env, var: &str, rel: &str) -> Option<PathBuf> {
    env.var(var)
        .map(PathBuf::from)
        .or_else(|| env.var("HOME").map(|h| PathBuf::from(h).join(rel)))
}

/// The shared credentials and config files, read once.
#[derive(Debug, Default)]
struct SharedFiles {
    credentials: HashMap<String, HashMap<String, String>>,
    config: HashMap<String, HashMap<String, String>>,
}

impl SharedFiles {
    fn load(env: &dyn Env) -> Self {
        let read = |p: Option<PathBuf>| {
            p.and_then(|p| std::fs::read_to_string(p).ok())
                .map(|t| parse_ini(&t))
                .unwrap_or_default()
        };
        Self {
            credentials: read(home_file(
                env,
                "AWS_SHARED_CREDENTIALS_FILE",
                ".aws/credentials",
            )),
            config: read(home_file(env, "AWS_CONFIG_FILE", ".aws/config")),
        }
    }

    /// A profile's settings: the credentials file's section over the config file's.
    fn profile(&self, name: &str) -> Option<HashMap<String, String>> {
        let config_name = if name == "default" {
            "default".to_string()
        } else {
            format!("profile {name}")
        };
        let from_config = self
            .config
            .get(&config_name)
            .or_else(|| self.config.get(name));
        let from_creds = self.credentials.get(name);
        if from_config.is_none() && from_creds.is_none() {
            return None;
        }
        let mut merged = from_config.cloned().unwrap_or_default();
        merged.extend(from_creds.cloned().unwrap_or_default());
        Some(merged)
    }
}

fn keys_of(p: &HashMap<String, String>) -> Option<Keys> {
    Some(Keys {
        access_key_id: p.get("aws_access_key_id")?.clone(),
        secret_access_key: p.get("aws_secret_access_key")?.clone(),
        session_token: p.get("aws_session_token").cloned(),
    })
}

/// What one side's requests are signed with.
#[derive(Debug, Clone)]
pub struct Identity {
    pub keys: Keys,
    /// A region that the settings name (environment or profile); `None`: detect it.
    pub region: Option<String>,
}

/// Resolve the identity s5cmd would use with `--profile profile` (or none).
pub fn resolve(profile: Option<&str>, env: &dyn Env) -> Result<Identity, S3ApiError> {
    let files = SharedFiles::load(env);
    let env_region = env
        .var("AWS_REGION")
        .or_else(|| env.var("AWS_DEFAULT_REGION"));
    let no_creds = |what: String| S3ApiError::Credentials { what };
    if let Some(name) = profile {
        let p = files.profile(name).ok_or_else(|| {
            no_creds(format!(
                "profile {name:?} is in neither the shared credentials nor the config file"
            ))
        })?;
        let keys = keys_of(&p).ok_or_else(|| {
            no_creds(format!(
                "profile {name:?} has no aws_access_key_id / aws_secret_access_key"
            ))
        })?;
        return Ok(Identity {
            keys,
            region: env_region.or_else(|| p.get("region").cloned()),
        });
    }
    let access = env
        .var("AWS_ACCESS_KEY_ID")
        .or_else(|| env.var("AWS_ACCESS_KEY"));
    let secret = env
        .var("AWS_SECRET_ACCESS_KEY")
        .or_else(|| env.var("AWS_SECRET_KEY"));
    let name = env
        .var("AWS_PROFILE")
        .or_else(|| env.var("AWS_DEFAULT_PROFILE"))
        .unwrap_or_else(|| "default".into());
    let profile_region = files.profile(&name).and_then(|p| p.get("region").cloned());
    if let (Some(access_key_id), Some(secret_access_key)) = (access, secret) {
        return Ok(Identity {
            keys: Keys {
                access_key_id,
                secret_access_key,
                session_token: env.var("AWS_SESSION_TOKEN"),
            },
            region: env_region.or(profile_region),
        });
    }
    let p = files.profile(&name).ok_or_else(|| {
        no_creds(format!(
            "no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and no profile {name:?} in the shared files"
        ))
    })?;
    let keys =
        keys_of(&p).ok_or_else(|| no_creds(format!("profile {name:?} has no static keys")))?;
    Ok(Identity {
        keys,
        region: env_region.or(profile_region),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &std::path::Path) -> (String, String) {
        let creds = dir.join("credentials");
        let config = dir.join("config");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = SDEF\n\n\
             [lake]\naws_access_key_id=AKLAKE\naws_secret_access_key=SLAKE\naws_session_token = TLAKE\n",
        )
        .unwrap();
        std::fs::write(
            &config,
            "# comment\n[default]\nregion = eu-west-1\n[profile lake]\nregion = ap-northeast-1\n\
             [profile cfgonly]\naws_access_key_id = AKCFG\naws_secret_access_key = SCFG\n",
        )
        .unwrap();
        (creds.display().to_string(), config.display().to_string())
    }

    #[test]
    fn explicit_profile_wins_over_environment_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = files(dir.path());
        let env: HashMap<&str, &str> = [
            ("AWS_SHARED_CREDENTIALS_FILE", c.as_str()),
            ("AWS_CONFIG_FILE", k.as_str()),
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "SENV"),
        ]
        .into();
        let id = resolve(Some("lake"), &env).unwrap();
        assert_eq!(id.keys.access_key_id, "AKLAKE");
        assert_eq!(id.keys.session_token.as_deref(), Some("TLAKE"));
        assert_eq!(id.region.as_deref(), Some("ap-northeast-1"));
        let id = resolve(Some("cfgonly"), &env).unwrap();
        assert_eq!(id.keys.access_key_id, "AKCFG");
        assert!(resolve(Some("nope"), &env).is_err());
    }

    #[test]
    fn environment_keys_then_aws_profile() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = files(dir.path());
        let mut env: HashMap<&str, &str> = [
            ("AWS_SHARED_CREDENTIALS_FILE", c.as_str()),
            ("AWS_CONFIG_FILE", k.as_str()),
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "SENV"),
            ("AWS_SESSION_TOKEN", "TENV"),
            ("AWS_REGION", "us-west-2"),
        ]
        .into();
        let id = resolve(None, &env).unwrap();
        assert_eq!(id.keys.access_key_id, "AKENV");
        assert_eq!(id.keys.session_token.as_deref(), Some("TENV"));
        assert_eq!(id.region.as_deref(), Some("us-west-2"));
        env.remove("AWS_ACCESS_KEY_ID");
        env.remove("AWS_REGION");
        let id = resolve(None, &env).unwrap();
        assert_eq!(id.keys.access_key_id, "AKDEF");
        assert_eq!(id.region.as_deref(), Some("eu-west-1"));
        env.insert("AWS_PROFILE", "lake");
        assert_eq!(resolve(None, &env).unwrap().keys.access_key_id, "AKLAKE");
        env.insert("AWS_PROFILE", "missing");
        assert!(resolve(None, &env).is_err());
    }

    #[test]
    fn secrets_never_in_debug_output() {
        let k = Keys {
            access_key_id: "AKSENTINEL".into(),
            secret_access_key: "SSENTINEL".into(),
            session_token: Some("TSENTINEL".into()),
        };
        let s = format!("{k:?}");
        assert!(!s.contains("SENTINEL"), "{s}");
    }
}
