//! Rendering s5cmd `run` command files.
//!
//! s5cmd splits each line with POSIX-sh rules, so every argument is single-quoted with an
//! embedded `'` written as `'\''`. A line cannot hold a newline (nor, safely, any other
//! control character): one unterminated quote would silently abort the whole run, so such a
//! key is refused before it reaches the file.

use std::fmt::Write as _;

/// Why an argument cannot be written into a command file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdFileError {
    #[error(
        "the key contains a control character (U+{0:04X}), which an s5cmd command file cannot carry"
    )]
    ControlCharacter(u32),
}

/// Quote one argument for an s5cmd command file.
pub fn quote(arg: &str) -> Result<String, CmdFileError> {
    if let Some(c) = arg.chars().find(|c| c.is_control()) {
        return Err(CmdFileError::ControlCharacter(c as u32));
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Ok(out)
}

/// One server-side copy line: `cp --raw --metadata-directive COPY 'SRC' 'DST'`.
///
/// `--raw` keeps `*` and `?` in keys literal; `COPY` keeps the source Content-Type and
/// metadata (s5cmd v2.3.0 defaults to REPLACE for S3->S3).
pub fn copy_line(src_url: &str, dst_url: &str) -> Result<String, CmdFileError> {
    let mut line = String::from("cp --raw --metadata-directive COPY ");
    line.push_str(&quote(src_url)?);
    line.push(' ');
    line.push_str(&quote(dst_url)?);
    Ok(line)
}

/// One wildcard server-side copy of every object under a key prefix:
/// `cp --metadata-directive COPY 'SRC_PREFIX*' 'DST_FOLDER/'`, where DST_FOLDER is the
/// destination of the prefix's folder (ends in `/`). s5cmd lists the prefix and copies each
/// object to the same key relative to that folder, printing one success line per object.
/// The caller makes sure the URLs hold no wildcard and the prefix has no subfolder.
pub fn folder_copy_line(src_prefix: &str, dst_folder: &str) -> Result<String, CmdFileError> {
    folder_copy_line_with(src_prefix, "", None, dst_folder)
}

/// [`folder_copy_line`] copying only the keys that end in `suffix` (`SRC_PREFIX*SUFFIX`),
/// and skipping those matching `exclude` (s5cmd's `--exclude`, a wildcard pattern).
pub fn folder_copy_line_with(
    src_prefix: &str,
    suffix: &str,
    exclude: Option<&str>,
    dst_folder: &str,
) -> Result<String, CmdFileError> {
    let mut line = String::from("cp --metadata-directive COPY ");
    if let Some(pattern) = exclude {
        line.push_str("--exclude ");
        line.push_str(&quote(pattern)?);
        line.push(' ');
    }
    line.push_str(&quote(&format!("{src_prefix}*{suffix}"))?);
    line.push(' ');
    line.push_str(&quote(dst_folder)?);
    Ok(line)
}

/// A download line (`cp --raw 'SRC' 'LOCAL'`) for staged mode.
pub fn download_line(src_url: &str, local: &str) -> Result<String, CmdFileError> {
    Ok(format!("cp --raw {} {}", quote(src_url)?, quote(local)?))
}

/// An upload line (`cp --raw 'LOCAL' 'DST'`) for staged mode.
pub fn upload_line(local: &str, dst_url: &str) -> Result<String, CmdFileError> {
    Ok(format!("cp --raw {} {}", quote(local)?, quote(dst_url)?))
}

/// The text s5cmd echoes in the `command` field of a per-object error: the subcommand
/// and its arguments unquoted, without flags. Used to map errors back to objects.
pub fn echoed_command(src: &str, dst: &str) -> String {
    let mut s = String::with_capacity(src.len() + dst.len() + 4);
    let _ = write!(s, "cp {src} {dst}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split a line the way POSIX sh does for the quoting we emit (single quotes and `\'`).
    fn sh_split(line: &str) -> Vec<String> {
        let mut args = Vec::new();
        let mut cur = String::new();
        let mut in_arg = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' => {
                    in_arg = true;
                    for q in chars.by_ref() {
                        if q == '\'' {
                            break;
                        }
                        cur.push(q);
                    }
                }
                '\\' => {
                    in_arg = true;
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
                ' ' => {
                    if in_arg {
                        args.push(std::mem::take(&mut cur));
                        in_arg = false;
                    }
                }
                other => {
                    in_arg = true;
                    cur.push(other);
                }
            }
        }
        if in_arg {
            args.push(cur);
        }
        args
    }

    #[test]
    fn quoting_round_trips_hostile_keys() {
        let keys = [
            "data/spot/a b.zip",
            "it's.zip",
            "''",
            "a\"b\\c.zip",
            "ünïcödé/日本.zip",
            "star*and?question.zip",
            "hash#percent%plus+amp&eq=semi;.zip",
            "[brackets]{braces}.zip",
            " leading and trailing ",
            "../../etc/passwd",
            "a//b",
            "$HOME `cmd` $(x)",
        ];
        for key in keys {
            let src = format!("s3://src/{key}");
            let dst = format!("s3://dst/p/{key}");
            let line = copy_line(&src, &dst).unwrap();
            let args = sh_split(&line);
            assert_eq!(
                args,
                vec![
                    "cp".to_string(),
                    "--raw".into(),
                    "--metadata-directive".into(),
                    "COPY".into(),
                    src.clone(),
                    dst.clone()
                ],
                "line {line:?}"
            );
        }
    }

    #[test]
    fn quote_escapes_single_quotes() {
        assert_eq!(quote("a'b").unwrap(), r"'a'\''b'");
        assert_eq!(quote("").unwrap(), "''");
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(quote("a\nb"), Err(CmdFileError::ControlCharacter(0x0A)));
        assert!(copy_line("s3://a/x\ty", "s3://b/x").is_err());
        assert!(copy_line("s3://a/x", "s3://b/x\r").is_err());
        assert!(quote("del\u{7f}").is_err());
    }

    #[test]
    fn echoed_command_matches_s5cmd_format() {
        assert_eq!(
            echoed_command("s3://src/a b.zip", "s3://dst/a b.zip"),
            "cp s3://src/a b.zip s3://dst/a b.zip"
        );
    }
}
