//! Keys that break naive tools: every one is copied byte-exact in auto and staged mode; a
//! key with a newline fails alone, clearly, and the rest of its batch proceeds.

use std::process::Command;

use crate::common::{Moto, Sync, tools_dir};

fn hostile_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "sp ace/a b.zip",
        "q'uote.zip",
        "d\"ouble.zip",
        "back\\slash.zip",
        "caf\u{e9}-nfc.zip",
        "cafe\u{301}-nfd.zip",
        "\u{65e5}\u{672c}/\u{6570}\u{636e}.zip",
        "st*r?.zip",
        "[br]{ce}.zip",
        "#%+&=;.zip",
        " leading.zip",
        "trailing.zip ",
        "dots/../../up.zip",
        "a//b.zip",
        "$HOME`x`$(y).zip",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A 1,024-byte key.
    let long = format!("long/{}.zip", "k".repeat(1024 - "long/.zip".len()));
    assert_eq!(long.len(), 1024);
    keys.push(long);
    keys
}

/// Put objects with any keys (including control characters) through boto3 from the
/// project's venv (moto depends on it), bypassing s5cmd's own argument handling.
fn boto_put(moto: &Moto, bucket: &str, objects: &[(String, Vec<u8>)]) {
    let python = tools_dir().join("venv/bin/python");
    let script = "import boto3,json,sys\n\
        s3=boto3.client('s3',endpoint_url=sys.argv[1],aws_access_key_id='test',aws_secret_access_key='test',region_name='us-east-1')\n\
        for k,b in json.load(sys.stdin): s3.put_object(Bucket=sys.argv[2],Key=k,Body=bytes(b))\n";
    let payload = serde_json::to_vec(objects).unwrap();
    let mut child = Command::new(python)
        .args(["-c", script, &moto.url, bucket])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("the .tools venv python with boto3");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&payload).unwrap();
    assert!(child.wait().unwrap().success(), "boto3 put failed");
}

fn body_of(key: &str) -> Vec<u8> {
    format!("content of <{key}>").into_bytes()
}

fn run_mode(mode: &str) {
    let moto = Moto::with_buckets(&["src", "dst"]);
    let keys = hostile_keys();
    let mut objects: Vec<(String, Vec<u8>)> =
        keys.iter().map(|k| (k.clone(), body_of(k))).collect();
    // moto refuses to store a key with a newline (404); a tab is a control character too
    // and takes the same path: it cannot be written into a command file.
    let newline_key = "bad\tline.zip";
    objects.push((newline_key.to_string(), b"never copied".to_vec()));
    boto_put(&moto, "src", &objects);
    let run = Sync::new(&moto).dest("s3://dst/m").mode(mode).run();
    assert_eq!(run.code, 1, "{mode}: {}", run.stderr);
    let r = run.report();
    let failures = r["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{mode}: {failures:?}");
    assert_eq!(failures[0]["key"], format!("m/{newline_key}"));
    assert!(
        failures[0]["error"]
            .as_str()
            .unwrap()
            .contains("control character"),
        "{failures:?}"
    );
    assert_eq!(r["totals"]["copied"], keys.len() as u64);
    assert_eq!(r["totals"]["validated"], keys.len() as u64);
    for k in &keys {
        assert_eq!(
            moto.get("dst", &format!("m/{k}")),
            body_of(k),
            "{mode}: {k:?}"
        );
    }
    let dest = moto.list("dst", "m/");
    assert_eq!(dest.len(), keys.len(), "{mode}: {:?}", dest.keys());
}

#[test]
fn hostile_keys_land_byte_exact_in_auto_mode() {
    run_mode("auto");
}

#[test]
fn hostile_keys_land_byte_exact_in_staged_mode() {
    run_mode("staged");
}
