//! Seeding test servers with Binance-shaped archives from the project's generator
//! (`scripts/gen_fixtures.py`): [`Seed`] says what to generate, and where it goes.

use std::process::{Command, Stdio};

use super::{Moto, repo_root};

/// What to generate: `Seed::archives(n)` is n generated archives (a zip and its CHECKSUM
/// each), natural sizes, the default layout across markets.
///
/// ```ignore
/// let (moto, _dir) = Seed::archives(300).with_real().start();
/// ```
#[derive(Clone)]
pub struct Seed {
    args: Vec<String>,
}

impl Seed {
    pub fn archives(n: usize) -> Self {
        Seed {
            args: vec!["--files".into(), n.to_string()],
        }
    }

    /// Add the four real archive files (fixtures/real).
    pub fn with_real(self) -> Self {
        self.gen_args(["--with-real"])
    }

    /// A generator layout (`--layout`, e.g. `klines`: all in one daily klines folder).
    pub fn layout(self, layout: &str) -> Self {
        self.gen_args(["--layout", layout])
    }

    /// A generator size class (`--size-class`, e.g. `tiny`).
    pub fn size_class(self, class: &str) -> Self {
        self.gen_args(["--size-class", class])
    }

    fn gen_args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> Self {
        self.args.extend(args.into_iter().map(str::to_string));
        self
    }

    /// Generate into a new local folder (to alter files before uploading them).
    pub fn generate(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("python3")
            .arg(repo_root().join("scripts/gen_fixtures.py"))
            .arg("--out")
            .arg(dir.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .status()
            .expect("cannot run python3 scripts/gen_fixtures.py");
        assert!(status.success(), "gen_fixtures.py {:?} failed", self.args);
        dir
    }

    /// Generate, make `bucket` on `moto` and upload into it. Keep the folder alive as long
    /// as the test needs the local copies.
    pub fn upload_to(&self, moto: &Moto, bucket: &str) -> tempfile::TempDir {
        let dir = self.generate();
        moto.make_bucket(bucket);
        moto.upload_dir(dir.path(), bucket, "");
        dir
    }

    /// A new moto server whose bucket `src` holds this, with an empty bucket `dst`.
    pub fn start(&self) -> (Moto, tempfile::TempDir) {
        let moto = Moto::start();
        let dir = self.upload_to(&moto, "src");
        moto.make_bucket("dst");
        (moto, dir)
    }
}
