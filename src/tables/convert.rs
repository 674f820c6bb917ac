//! The converter core: one archive zip (a local file) -> its CSV, streamed -> typed Arrow
//! record batches -> one zstd Parquet file, with the per-file validation.
//!
//! Memory stays bounded whatever the file's size: the CSV is inflated and parsed in
//! [`BATCH_ROWS`]-row batches, and the Parquet writer holds at most one row group
//! ([`ROW_GROUP_ROWS`] rows, compressed) before it goes to disk. The output is written to a
//! temp file beside the target and renamed onto it only when every check passed, so a
//! failed conversion leaves nothing behind.
//!
//! The archive's quirks handled here:
//! - a header row is detected (its first byte is a letter: every data row starts with a
//!   digit) and must name the schema's columns; it is never read as data;
//! - epoch times are milliseconds in futures files and in spot files before 2025-01-01, and
//!   microseconds in spot files since. The unit is decided once per file from the first
//!   value of the time axis: at least 10^14 means microseconds (10^14 ms is the year 5138,
//!   10^14 us is 1973), and every epoch column of the file is scaled to microseconds with
//!   it. A value in the other unit lands decades away from the file's date, which the time
//!   range check below then rejects;
//! - `True`/`False` and `true`/`false` are both booleans.
//!
//! Checks per file, each of which fails the file with the key and (where there is one) the
//! CSV line: exactly one CSV inside, a readable zip (CRC included), the right column count,
//! every value parses, no empty time axis value, rows in the Parquet footer (read back from
//! the written file) == data lines in the CSV (counted from the raw bytes, independently of
//! the parser), and the time axis's min and max inside the file's day or month.

// A failed file is rare, and its error carries the key, the line and the value: boxing it
// would buy nothing measurable on the hot path, which only ever returns Ok.
#![expect(
    clippy::result_large_err,
    reason = "ConvertError holds the key, line and value of a rare failure"
)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{ArrowError, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::select::archive::FileDate;
use crate::tables::schema::{Kind, SCHEMA_VERSION, TableSchema, UTC};

/// Rows per Arrow record batch: large enough that per-batch costs vanish, small enough
/// that a batch of the widest table stays a few MB.
pub const BATCH_ROWS: usize = 64 * 1024;
/// Rows per Parquet row group (the writer buffers one row group, compressed).
pub const ROW_GROUP_ROWS: usize = 1024 * 1024;
/// Bytes read from the inflating zip stream at once.
const READ_BUFFER: usize = 1024 * 1024;
/// zstd level: 1 is zstd's fast end; higher levels cost CPU for a few percent of size.
pub const ZSTD_LEVEL: i32 = 1;
/// An epoch value at least this large is in microseconds, smaller is milliseconds.
pub const MICROS_THRESHOLD: i64 = 100_000_000_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Values quoted in errors are cut to this many characters.
const VALUE_SHOWN: usize = 60;

/// What the converter needs to know about one file.
#[derive(Debug, Clone)]
pub struct Job {
    /// The archive key, for error messages and the Parquet metadata.
    pub key: String,
    pub zip_path: PathBuf,
    pub schema: TableSchema,
    /// The day or month in the file name: the time axis must lie inside it.
    pub date: FileDate,
    /// Where the Parquet file goes (written as a temp file beside it first).
    pub out_path: PathBuf,
    /// Extra key-value metadata (provenance: the zip's ETag, size, SHA-256, ...).
    pub metadata: Vec<(String, String)>,
}

/// The unit the file's epoch times were in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceUnit {
    Milliseconds,
    Microseconds,
    /// Times written as `YYYY-MM-DD HH:MM:SS` (bookDepth, metrics).
    Text,
    /// No rows, so nothing to tell.
    None,
}

impl SourceUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceUnit::Milliseconds => "ms",
            SourceUnit::Microseconds => "us",
            SourceUnit::Text => "text",
            SourceUnit::None => "none",
        }
    }
}

/// A converted file.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub rows: u64,
    /// Uncompressed CSV bytes (the header included).
    pub csv_bytes: u64,
    pub zip_bytes: u64,
    pub parquet_bytes: u64,
    pub header: bool,
    pub source_unit: SourceUnit,
    pub time_column: &'static str,
    /// Min and max of the time axis, microseconds since the epoch (None: no rows).
    pub min_time_us: Option<i64>,
    pub max_time_us: Option<i64>,
    pub seconds: f64,
}

/// Why a file could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The zip cannot be opened or inflated (truncated, corrupt, CRC mismatch).
    Zip(String),
    NoCsv {
        entries: Vec<String>,
    },
    SeveralCsv {
        entries: Vec<String>,
    },
    Header {
        found: String,
        expected: String,
    },
    Columns {
        expected: usize,
        found: String,
    },
    Value {
        column: String,
        value: String,
        expected: String,
    },
    MissingTime {
        column: &'static str,
    },
    TimeOverflow {
        column: &'static str,
    },
    OutsideDate {
        column: &'static str,
        min: String,
        max: String,
        date: String,
    },
    RowCount {
        csv: u64,
        parquet: u64,
    },
    /// Other CSV decoding errors (invalid UTF-8, ...), as the parser words them.
    Csv(String),
    Io(String),
    Parquet(String),
}

/// A failed file: the key, the CSV line where known, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError {
    pub key: String,
    pub line: Option<u64>,
    pub problem: Problem,
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.key)?;
        if let Some(l) = self.line {
            write!(f, ": line {l}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for ConvertError {}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Zip(e) => write!(f, "not a readable zip: {e}"),
            Problem::NoCsv { entries } => {
                write!(f, "the zip holds no .csv file (entries: {entries:?})")
            }
            Problem::SeveralCsv { entries } => write!(
                f,
                "the zip holds several .csv files and none has the zip's name: {entries:?}"
            ),
            Problem::Header { found, expected } => write!(
                f,
                "the header {found:?} does not name the expected columns {expected:?}"
            ),
            Problem::Columns { expected, found } => {
                write!(
                    f,
                    "wrong number of columns: expected {expected}, found {found}"
                )
            }
            Problem::Value {
                column,
                value,
                expected,
            } => write!(
                f,
                "column {column}: the value {value:?} is not a valid {expected}"
            ),
            Problem::MissingTime { column } => {
                write!(f, "column {column}: the time is empty")
            }
            Problem::TimeOverflow { column } => {
                write!(f, "column {column}: the time is out of range")
            }
            Problem::OutsideDate {
                column,
                min,
                max,
                date,
            } => write!(
                f,
                "column {column} spans {min} .. {max}, outside the file's date {date}"
            ),
            Problem::RowCount { csv, parquet } => write!(
                f,
                "the Parquet file holds {parquet} rows but the CSV has {csv} data lines"
            ),
            Problem::Csv(e) => write!(f, "{e}"),
            Problem::Io(e) => write!(f, "{e}"),
            Problem::Parquet(e) => write!(f, "writing Parquet: {e}"),
        }
    }
}

impl Problem {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Problem::Zip(_) | Problem::NoCsv { .. } | Problem::SeveralCsv { .. } => {
                "the archive object is damaged: re-mirror it (lakesync sync) or report it to Binance"
            }
            Problem::Header { .. } | Problem::Columns { .. } => {
                "the file's layout differs from the archive's documented one; check the data type and report it"
            }
            Problem::Value { .. }
            | Problem::MissingTime { .. }
            | Problem::TimeOverflow { .. }
            | Problem::Csv(_) => {
                "the CSV has a malformed row at that line; the other files were converted"
            }
            Problem::OutsideDate { .. } => {
                "the rows do not belong to the file's date (or a time is in an unexpected unit); check the file"
            }
            Problem::RowCount { .. } => {
                "the CSV has lines the parser skipped (blank lines?); check the file at the source"
            }
            Problem::Io(_) | Problem::Parquet(_) => {
                "check free space and permissions in the temp folder (--temp-dir)"
            }
        }
    }
}

/// Counts bytes and newlines as the CSV is inflated, independently of the CSV parser.
struct Counting<R> {
    inner: R,
    bytes: u64,
    newlines: u64,
    last: Option<u8>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            let chunk = &buf[..n];
            self.bytes += n as u64;
            self.newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            self.last = Some(chunk[n - 1]);
        }
        Ok(n)
    }
}

impl<R> Counting<R> {
    /// Lines in the stream: newlines, plus a last line without one.
    fn lines(&self) -> u64 {
        self.newlines + u64::from(matches!(self.last, Some(b) if b != b'\n'))
    }
}

/// The day or month as a half-open range of microseconds, and its label.
pub fn date_range_us(date: FileDate) -> (i64, i64, String) {
    use jiff::civil::Date;
    let day_us = |d: Date| i64::from(d.to_jiff_days()) * MICROS_PER_DAY;
    match date {
        FileDate::Day(d) => {
            let start = day_us(d);
            (start, start + MICROS_PER_DAY, d.to_string())
        }
        FileDate::Month { year, month } => {
            let first = Date::new(year, month, 1).unwrap_or_default();
            let next = first
                .checked_add(jiff::Span::new().months(1))
                .unwrap_or(first);
            (day_us(first), day_us(next), format!("{year:04}-{month:02}"))
        }
    }
}

trait ToJiffDays {
    fn to_jiff_days(self) -> i32;
}

impl ToJiffDays for jiff::civil::Date {
    /// Days since 1970-01-01.
    fn to_jiff_days(self) -> i32 {
        let epoch = jiff::civil::date(1970, 1, 1);
        (self - epoch).get_days()
    }
}

/// RFC 3339 text of a microsecond timestamp (for reports and errors).
pub fn format_us(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).map_or_else(|_| format!("{us} us"), |t| t.to_string())
}

/// Convert one file. On any error nothing is left at `job.out_path` (nor its temp file).
pub fn convert(job: &Job) -> Result<Converted, ConvertError> {
    let started = Instant::now();
    let err = |line: Option<u64>, problem: Problem| ConvertError {
        key: job.key.clone(),
        line,
        problem,
    };
    let zip_bytes = std::fs::metadata(&job.zip_path)
        .map_err(|e| err(None, Problem::Io(format!("reading the zip: {e}"))))?
        .len();
    let file = File::open(&job.zip_path)
        .map_err(|e| err(None, Problem::Io(format!("opening the zip: {e}"))))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| err(None, Problem::Zip(e.to_string())))?;
    let index = pick_csv(&mut archive, &job.key).map_err(|p| err(None, p))?;
    let entry = archive
        .by_index(index)
        .map_err(|e| err(None, Problem::Zip(e.to_string())))?;

    let dir = job
        .out_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".lakesync-")
        .suffix(".parquet.tmp")
        .tempfile_in(dir)
        .map_err(|e| {
            err(
                None,
                Problem::Io(format!("creating a temp file in {}: {e}", dir.display())),
            )
        })?;
    // From here on, dropping `tmp` on an error removes the half-written file.
    let out = tmp
        .reopen()
        .map_err(|e| err(None, Problem::Io(format!("opening the temp file: {e}"))))?;

    let mut state = Stream::new(job, entry, out)?;
    state.run()?;
    let (rows, stats) = state.finish()?;

    // Independent checks on what was written.
    let footer_rows = footer_rows(tmp.path()).map_err(|e| err(None, Problem::Parquet(e)))?;
    if footer_rows != stats.csv_lines || rows != stats.csv_lines {
        return Err(err(
            None,
            Problem::RowCount {
                csv: stats.csv_lines,
                parquet: footer_rows,
            },
        ));
    }
    if let (Some(min), Some(max)) = (stats.min_us, stats.max_us) {
        let (start, end, label) = date_range_us(job.date);
        if min < start || max >= end {
            return Err(err(
                None,
                Problem::OutsideDate {
                    column: job.schema.time_column_name(),
                    min: format_us(min),
                    max: format_us(max),
                    date: label,
                },
            ));
        }
    }
    let parquet_bytes = tmp.as_file().metadata().map(|m| m.len()).unwrap_or(0);
    tmp.persist(&job.out_path).map_err(|e| {
        err(
            None,
            Problem::Io(format!(
                "publishing {}: {}",
                job.out_path.display(),
                e.error
            )),
        )
    })?;
    Ok(Converted {
        rows,
        csv_bytes: stats.csv_bytes,
        zip_bytes,
        parquet_bytes,
        header: stats.header,
        source_unit: stats.unit,
        time_column: job.schema.time_column_name(),
        min_time_us: stats.min_us,
        max_time_us: stats.max_us,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The index of the zip's CSV: the only `.csv`, or the one named like the zip.
fn pick_csv<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    key: &str,
) -> Result<usize, Problem> {
    let mut names: Vec<String> = Vec::with_capacity(archive.len());
    let mut csvs: Vec<(usize, String)> = Vec::new();
    for i in 0..archive.len() {
        let f = archive
            .by_index_raw(i)
            .map_err(|e| Problem::Zip(e.to_string()))?;
        let name = f
            .name()
            .map_err(|e| Problem::Zip(e.to_string()))?
            .into_owned();
        if !f.is_dir() && name.to_ascii_lowercase().ends_with(".csv") {
            csvs.push((i, name.clone()));
        }
        names.push(name);
    }
    match csvs.as_slice() {
        [] => Err(Problem::NoCsv { entries: names }),
        [(i, _)] => Ok(*i),
        several => {
            let zip_name = key.rsplit('/').next().unwrap_or(key);
            let want = format!("{}.csv", zip_name.strip_suffix(".zip").unwrap_or(zip_name));
            several
                .iter()
                .find(|(_, n)| n.rsplit('/').next() == Some(want.as_str()))
                .map(|(i, _)| *i)
                .ok_or_else(|| Problem::SeveralCsv {
                    entries: several.iter().map(|(_, n)| n.clone()).collect(),
                })
        }
    }
}

/// Rows according to the written file's footer.
fn footer_rows(path: &Path) -> Result<u64, String> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let f = File::open(path).map_err(|e| e.to_string())?;
    let r = SerializedFileReader::new(f).map_err(|e| e.to_string())?;
    Ok(u64::try_from(r.metadata().file_metadata().num_rows()).unwrap_or(0))
}

struct Stats {
    csv_bytes: u64,
    csv_lines: u64,
    header: bool,
    unit: SourceUnit,
    min_us: Option<i64>,
    max_us: Option<i64>,
}

/// One file's conversion in progress.
struct Stream<'a, R: Read> {
    job: &'a Job,
    reader: BufReader<Counting<R>>,
    decoder: arrow_csv::reader::Decoder,
    writer: ArrowWriter<File>,
    table: SchemaRef,
    header: bool,
    /// File line of the first data row (1 or 2).
    first_data_line: u64,
    /// Data rows turned into batches so far.
    rows: u64,
    /// Multiplier of epoch values into microseconds, once known.
    scale: Option<i64>,
    min_us: Option<i64>,
    max_us: Option<i64>,
}

fn writer_properties(job: &Job) -> WriterProperties {
    let mut kv: Vec<KeyValue> = vec![
        KeyValue::new("lakesync.source_key".into(), job.key.clone()),
        KeyValue::new("lakesync.schema_version".into(), SCHEMA_VERSION.to_string()),
    ];
    kv.extend(
        job.metadata
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default(),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("lakesync {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(kv))
        .build()
}

impl<'a, R: Read> Stream<'a, R> {
    fn new(job: &'a Job, entry: R, out: File) -> Result<Self, ConvertError> {
        let err = |problem| ConvertError {
            key: job.key.clone(),
            line: None,
            problem,
        };
        let mut reader = BufReader::with_capacity(
            READ_BUFFER,
            Counting {
                inner: entry,
                bytes: 0,
                newlines: 0,
                last: None,
            },
        );
        let header = read_header(&mut reader, &job.schema).map_err(|(line, p)| ConvertError {
            key: job.key.clone(),
            line,
            problem: p,
        })?;
        let decoder = arrow_csv::ReaderBuilder::new(job.schema.csv_schema())
            .with_header(false)
            .with_batch_size(BATCH_ROWS)
            .build_decoder();
        let table = job.schema.table_schema();
        let writer = ArrowWriter::try_new(out, table.clone(), Some(writer_properties(job)))
            .map_err(|e| err(Problem::Parquet(e.to_string())))?;
        Ok(Self {
            job,
            reader,
            decoder,
            writer,
            table,
            header,
            first_data_line: 1 + u64::from(header),
            rows: 0,
            scale: None,
            min_us: None,
            max_us: None,
        })
    }

    fn error(&self, line: Option<u64>, problem: Problem) -> ConvertError {
        ConvertError {
            key: self.job.key.clone(),
            line,
            problem,
        }
    }

    fn run(&mut self) -> Result<(), ConvertError> {
        let job = self.job;
        loop {
            // Feed the decoder until it holds a full batch or the input ends.
            loop {
                // Inflate errors (corrupt data, CRC mismatch) surface here.
                let buf = self.reader.fill_buf().map_err(|e| ConvertError {
                    key: job.key.clone(),
                    line: None,
                    problem: Problem::Zip(e.to_string()),
                })?;
                let decoded = self.decoder.decode(buf).map_err(|e| self.arrow_error(&e))?;
                self.reader.consume(decoded);
                if decoded == 0 || self.decoder.capacity() == 0 {
                    break;
                }
            }
            let Some(batch) = self.decoder.flush().map_err(|e| self.arrow_error(&e))? else {
                return Ok(());
            };
            let out = self.transform(&batch)?;
            self.writer
                .write(&out)
                .map_err(|e| self.error(None, Problem::Parquet(e.to_string())))?;
            self.rows += batch.num_rows() as u64;
        }
    }

    /// A CSV batch -> a table batch: epoch times scaled to microseconds, `ignore` dropped,
    /// the time axis checked and measured.
    fn transform(&mut self, batch: &RecordBatch) -> Result<RecordBatch, ConvertError> {
        let schema = self.job.schema;
        let time_idx = schema.time_column;
        if self.scale.is_none() && schema.columns[time_idx].kind == Kind::EpochTime {
            let first = batch.column(time_idx).as_primitive::<Int64Type>();
            if let Some(v) = first.iter().flatten().next() {
                self.scale = Some(if v >= MICROS_THRESHOLD { 1 } else { 1000 });
            }
        }
        let scale = self.scale.unwrap_or(1000);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.table.fields().len());
        for (i, c) in schema.columns.iter().enumerate() {
            let array = batch.column(i);
            let converted: ArrayRef = match c.kind {
                Kind::Ignore => continue,
                Kind::EpochTime => {
                    let ints = array.as_primitive::<Int64Type>();
                    let micros: TimestampMicrosecondArray = ints
                        .try_unary(|v| {
                            v.checked_mul(scale)
                                .ok_or_else(|| ArrowError::ComputeError("overflow".into()))
                        })
                        .map_err(|_| {
                            let at = ints
                                .iter()
                                .position(|v| v.is_some_and(|v| v.checked_mul(scale).is_none()))
                                .unwrap_or(0);
                            self.error(
                                Some(self.line_of(at)),
                                Problem::TimeOverflow { column: c.name },
                            )
                        })?;
                    Arc::new(micros.with_timezone(UTC))
                }
                Kind::TextTime => Arc::new(
                    array
                        .as_primitive::<TimestampMicrosecondType>()
                        .clone()
                        .with_timezone(UTC),
                ),
                _ => array.clone(),
            };
            if i == time_idx {
                self.measure(&converted, c)?;
            }
            columns.push(converted);
        }
        RecordBatch::try_new(self.table.clone(), columns)
            .map_err(|e| self.error(None, Problem::Parquet(e.to_string())))
    }

    /// Min/max of the time axis in this batch; an empty value fails the file.
    fn measure(
        &mut self,
        array: &ArrayRef,
        c: &crate::tables::schema::Column,
    ) -> Result<(), ConvertError> {
        if let Some(at) = (0..array.len()).find(|&r| array.is_null(r)) {
            return Err(self.error(
                Some(self.line_of(at)),
                Problem::MissingTime { column: c.name },
            ));
        }
        let t = array.as_primitive::<TimestampMicrosecondType>();
        let (lo, hi) = (
            t.values().iter().min().copied(),
            t.values().iter().max().copied(),
        );
        self.min_us = match (self.min_us, lo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_us = match (self.max_us, hi) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Ok(())
    }

    /// The file line of data row `row` of the current batch.
    fn line_of(&self, row: usize) -> u64 {
        self.first_data_line + self.rows + row as u64
    }

    /// An arrow-csv error in our words, with the file line. arrow-csv numbers data records
    /// (1-based) in field-count errors and data rows (0-based) in value errors; neither
    /// knows about the header, which we consumed ourselves.
    fn arrow_error(&self, e: &ArrowError) -> ConvertError {
        let msg = e.to_string();
        let header = u64::from(self.header);
        let number_after = |pat: &str| -> Option<u64> {
            let at = msg.find(pat)? + pat.len();
            let digits: String = msg[at..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        if msg.contains("incorrect number of fields") {
            let line = number_after("for line ").map(|n| n + header);
            let found = msg
                .rsplit_once(" got ")
                .map_or_else(|| "?".to_string(), |(_, g)| g.to_string());
            return self.error(
                line,
                Problem::Columns {
                    expected: self.job.schema.columns.len(),
                    found,
                },
            );
        }
        if let Some(rest) = msg
            .split_once("Error while parsing value '")
            .map(|(_, r)| r)
        {
            let line = number_after(" at line ").map(|n| n + 1 + header);
            let value = rest.split_once("' as type '").map_or("", |(v, _)| v);
            let column = number_after("for column ")
                .and_then(|c| self.job.schema.columns.get(c as usize))
                .map_or_else(|| "?".to_string(), |c| c.name.to_string());
            let expected = rest
                .split_once("' as type '")
                .and_then(|(_, r)| r.split_once('\''))
                .map_or("value", |(t, _)| t);
            return self.error(
                line,
                Problem::Value {
                    column,
                    value: value.chars().take(VALUE_SHOWN).collect(),
                    expected: friendly_type(expected).to_string(),
                },
            );
        }
        if msg.contains("Error parsing column ") {
            // Text timestamps: "Error parsing column C at line N: reason".
            let line = number_after(" at line ").map(|n| n + 1 + header);
            let column = number_after("Error parsing column ")
                .and_then(|c| self.job.schema.columns.get(c as usize))
                .map_or_else(|| "?".to_string(), |c| c.name.to_string());
            let reason = msg.split_once(": ").map_or("", |(_, r)| r);
            let reason = reason.split_once(": ").map_or(reason, |(_, r)| r);
            return self.error(
                line,
                Problem::Value {
                    column,
                    value: reason.chars().take(VALUE_SHOWN).collect(),
                    expected: "UTC time (YYYY-MM-DD HH:MM:SS)".into(),
                },
            );
        }
        let line = number_after("for line ").map(|n| n + header);
        self.error(line, Problem::Csv(msg))
    }

    fn finish(self) -> Result<(u64, Stats), ConvertError> {
        let key = self.job.key.clone();
        let mut writer = self.writer;
        let unit = match self.job.schema.columns[self.job.schema.time_column].kind {
            Kind::EpochTime => match self.scale {
                Some(1) => SourceUnit::Microseconds,
                Some(_) => SourceUnit::Milliseconds,
                None => SourceUnit::None,
            },
            _ if self.rows == 0 => SourceUnit::None,
            _ => SourceUnit::Text,
        };
        let counting = self.reader.get_ref();
        let csv_lines = counting.lines().saturating_sub(u64::from(self.header));
        for (k, v) in [
            ("lakesync.csv_rows", csv_lines.to_string()),
            ("lakesync.csv_time_unit", unit.as_str().to_string()),
            ("lakesync.csv_header", self.header.to_string()),
        ] {
            writer.append_key_value_metadata(KeyValue::new(k.into(), v));
        }
        writer.close().map_err(|e| ConvertError {
            key,
            line: None,
            problem: Problem::Parquet(e.to_string()),
        })?;
        Ok((
            self.rows,
            Stats {
                csv_bytes: counting.bytes,
                csv_lines,
                header: self.header,
                unit,
                min_us: self.min_us,
                max_us: self.max_us,
            },
        ))
    }
}

fn friendly_type(arrow: &str) -> &str {
    match arrow {
        "Int64" => "integer",
        "Float64" => "number",
        "Boolean" => "boolean (true/false)",
        other => other,
    }
}

/// Detect and consume a header line. Every data row of every data type starts with a digit
/// (an id, an epoch time or a date), so a first line starting with a letter is a header; it
/// must name the schema's columns.
fn read_header<R: BufRead>(
    reader: &mut R,
    schema: &TableSchema,
) -> Result<bool, (Option<u64>, Problem)> {
    let buf = reader
        .fill_buf()
        .map_err(|e| (None, Problem::Zip(e.to_string())))?;
    let body = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    let bom = buf.len() - body.len();
    if !body.first().is_some_and(u8::is_ascii_alphabetic) {
        reader.consume(bom);
        return Ok(false);
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err((
            Some(1),
            Problem::Header {
                found: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                expected: schema.column_names().join(","),
            },
        ));
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let line = line.trim_end_matches('\r');
    let fields: Vec<&str> = line.split(',').collect();
    if !schema.header_matches(&fields) {
        return Err((
            Some(1),
            Problem::Header {
                found: line.to_string(),
                expected: schema.column_names().join(","),
            },
        ));
    }
    reader.consume(bom + end + 1);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::archive::Market;
    use crate::tables::schema::schema_for;
    use std::io::Write;

    fn zip_with(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut w = zip::ZipWriter::new(f.reopen().unwrap());
        for (name, body) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap();
        f
    }

    struct Case {
        _zip: tempfile::NamedTempFile,
        dir: tempfile::TempDir,
        job: Job,
    }

    fn case(market: Market, data_type: &str, date_text: &str, csv: &str) -> Case {
        let zip = zip_with(&[("X.csv", csv.as_bytes())]);
        let dir = tempfile::tempdir().unwrap();
        let date = crate::select::archive::file_date(&format!("X-{date_text}.zip")).unwrap();
        let job = Job {
            key: format!("data/test/{data_type}/X-{data_type}-{date_text}.zip"),
            zip_path: zip.path().to_path_buf(),
            schema: schema_for(market, data_type).unwrap(),
            date,
            out_path: dir.path().join("out.parquet"),
            metadata: vec![("lakesync.source_etag".into(), "abc".into())],
        };
        Case {
            _zip: zip,
            dir,
            job,
        }
    }

    fn read_back(path: &Path) -> Vec<RecordBatch> {
        let f = File::open(path).unwrap();
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect()
    }

    const DAY_US: i64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z

    #[test]
    fn spot_klines_in_milliseconds_without_header() {
        let csv = "1704067200000,42283.58,42554.57,42261.02,42475.23,1271.68108,1704070799999,53957248.97,47134,682.57581,28957416.82,0\n\
                   1704070800000,42475.23,42775.00,42431.65,42613.56,1196.37856,1704074399999,50984893.26,45290,630.10,26845092.53,0\n";
        let c = case(Market::Spot, "klines", "2024-01-01", csv);
        let r = convert(&c.job).unwrap();
        assert_eq!(r.rows, 2);
        assert!(!r.header);
        assert_eq!(r.source_unit, SourceUnit::Milliseconds);
        assert_eq!(r.min_time_us, Some(DAY_US));
        assert_eq!(r.max_time_us, Some(DAY_US + 3_600_000_000));
        let b = read_back(&c.job.out_path);
        let s = b[0].schema();
        assert_eq!(s.fields().len(), 11, "ignore dropped");
        let close = b[0]
            .column_by_name("close_time")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(close.value(0), DAY_US + 3_599_999_000);
        assert_eq!(r.csv_bytes, csv.len() as u64);
    }

    #[test]
    fn spot_klines_in_microseconds_match_the_same_rows_in_milliseconds() {
        let ms = "1735689600000,1.5,2,1,1.5,10,1735693199999,15,3,5,7.5,0\n";
        let us = "1735689600000000,1.5,2,1,1.5,10,1735693199999999,15,3,5,7.5,0\n";
        let a = case(Market::Spot, "klines", "2025-01-01", ms);
        let b = case(Market::Spot, "klines", "2025-01-01", us);
        let ra = convert(&a.job).unwrap();
        let rb = convert(&b.job).unwrap();
        assert_eq!(ra.source_unit, SourceUnit::Milliseconds);
        assert_eq!(rb.source_unit, SourceUnit::Microseconds);
        assert_eq!(ra.min_time_us, rb.min_time_us);
        let open = |c: &Case| {
            read_back(&c.job.out_path)[0]
                .column(0)
                .as_primitive::<TimestampMicrosecondType>()
                .value(0)
        };
        assert_eq!(open(&a), open(&b));
    }

    #[test]
    fn futures_header_is_detected_and_never_data() {
        let csv = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n\
                   1,100.5,3,10,12,1704067200001,true\n\
                   2,100.6,1,13,13,1704067200002,false\n";
        let c = case(Market::FuturesUm, "aggTrades", "2024-01-01", csv);
        let r = convert(&c.job).unwrap();
        assert!(r.header);
        assert_eq!(r.rows, 2);
        let b = read_back(&c.job.out_path);
        let maker = b[0].column_by_name("is_buyer_maker").unwrap().as_boolean();
        assert!(maker.value(0) && !maker.value(1));
    }

    #[test]
    fn spot_booleans_in_title_case() {
        let csv = "5,42000.1,0.5,21000.05,1704067200123,True,True\n6,42000.2,0.1,4200.02,1704067200124,False,True\n";
        let c = case(Market::Spot, "trades", "2024-01-01", csv);
        convert(&c.job).unwrap();
        let b = read_back(&c.job.out_path);
        let maker = b[0].column_by_name("is_buyer_maker").unwrap().as_boolean();
        assert!(maker.value(0) && !maker.value(1));
        assert!(
            b[0].column_by_name("is_best_match")
                .unwrap()
                .as_boolean()
                .value(1)
        );
    }

    #[test]
    fn text_times_and_monthly_range() {
        let csv =
            "timestamp,percentage,depth,notional\n2024-01-31 23:59:58,-5,529798.0,11864400.15\n";
        let c = case(Market::FuturesUm, "bookDepth", "2024-01", csv);
        let r = convert(&c.job).unwrap();
        assert_eq!(r.source_unit, SourceUnit::Text);
        assert_eq!(format_us(r.max_time_us.unwrap()), "2024-01-31T23:59:58Z");
    }

    #[test]
    fn key_value_metadata_carries_the_provenance() {
        let c = case(
            Market::FuturesUm,
            "fundingRate",
            "2024-01",
            "calc_time,funding_interval_hours,last_funding_rate\n1704067200000,8,0.0001\n",
        );
        convert(&c.job).unwrap();
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let r = SerializedFileReader::new(File::open(&c.job.out_path).unwrap()).unwrap();
        let kv: std::collections::BTreeMap<String, String> = r
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(kv["lakesync.source_etag"], "abc");
        assert_eq!(kv["lakesync.csv_rows"], "1");
        assert_eq!(kv["lakesync.csv_time_unit"], "ms");
        assert_eq!(kv["lakesync.csv_header"], "true");
        assert_eq!(kv["lakesync.schema_version"], "1");
    }

    /// The error converting `csv` as one file of `data_type` (see [`case`] and [`failure`]).
    fn fails(market: Market, data_type: &str, date_text: &str, csv: &str) -> ConvertError {
        failure(&case(market, data_type, date_text, csv))
    }

    /// The failure of futures um's monthly fundingRate file for 2024-01 holding `csv`.
    fn funding_rate_fails(csv: &str) -> ConvertError {
        fails(Market::FuturesUm, "fundingRate", "2024-01", csv)
    }

    fn failure(c: &Case) -> ConvertError {
        let e = convert(&c.job).unwrap_err();
        let left: Vec<_> = std::fs::read_dir(c.dir.path()).unwrap().collect();
        assert!(left.is_empty(), "nothing may be left behind: {left:?}");
        e
    }

    #[test]
    fn a_value_that_does_not_parse_names_the_line_and_column() {
        let csv = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n\
                   1704067200000,1,1,1,1,1,1704067259999,1,1,1,1,0\n\
                   1704067260000,1,1,x1,1,1,1704067319999,1,1,1,1,0\n";
        let c = case(Market::FuturesUm, "klines", "2024-01-01", csv);
        let e = failure(&c);
        assert_eq!(e.line, Some(3));
        assert_eq!(
            e.problem,
            Problem::Value {
                column: "low".into(),
                value: "x1".into(),
                expected: "number".into()
            }
        );
        let text = e.to_string();
        assert!(
            text.starts_with(&c.job.key) && text.contains("line 3"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_boolean_and_a_bad_text_time_name_their_lines() {
        let csv = "1,1.0,1,1,1704067200000,True,True\n2,1.0,1,1,1704067200001,maybe,True\n";
        let e = fails(Market::Spot, "trades", "2024-01-01", csv);
        assert_eq!(e.line, Some(2));
        assert!(matches!(&e.problem, Problem::Value { column, .. } if column == "is_buyer_maker"));

        let csv = "timestamp,percentage,depth,notional\n2024-01-01 00:00:01,1,1,1\n2024-13-01 00:00:01,1,1,1\n";
        let e = fails(Market::FuturesUm, "bookDepth", "2024-01-01", csv);
        assert_eq!(e.line, Some(3));
        assert!(matches!(&e.problem, Problem::Value { column, .. } if column == "timestamp"));
    }

    #[test]
    fn wrong_column_count_names_the_line() {
        let e = funding_rate_fails("1704067200000,8,0.0001\n1704067200001,8\n");
        assert_eq!(e.line, Some(2));
        assert!(
            matches!(e.problem, Problem::Columns { expected: 3, .. }),
            "{e}"
        );
        // With a header the line moves down by one.
        let e = funding_rate_fails(
            "calc_time,funding_interval_hours,last_funding_rate\n1704067200000,8,0.0001\n1704067200001,8,1,5\n",
        );
        assert_eq!(e.line, Some(3), "{e}");
    }

    #[test]
    fn a_header_naming_other_columns_fails() {
        let e = funding_rate_fails(
            "calc_time,last_funding_rate,funding_interval_hours\n1704067200000,0.0001,8\n",
        );
        assert_eq!(e.line, Some(1));
        assert!(matches!(e.problem, Problem::Header { .. }));
    }

    #[test]
    fn rows_outside_the_files_date_fail() {
        // A day later than the file name says.
        let csv = "1704153600000,8,0.0001\n";
        let e = fails(Market::FuturesUm, "fundingRate", "2023-12", csv);
        assert!(matches!(e.problem, Problem::OutsideDate { .. }), "{e}");
        // A millisecond time in a file whose unit was detected as microseconds.
        let csv = "1704067200000000,1,1,1,1,1,1704067259999999,1,1,1,1,0\n1704067260000,1,1,1,1,1,1704067319999,1,1,1,1,0\n";
        assert!(matches!(
            fails(Market::Spot, "klines", "2024-01-01", csv).problem,
            Problem::OutsideDate { .. }
        ));
    }

    #[test]
    fn an_empty_time_fails_with_its_line() {
        let e = funding_rate_fails("1704067200000,8,0.0001\n,8,0.0002\n");
        assert_eq!(e.line, Some(2));
        assert_eq!(
            e.problem,
            Problem::MissingTime {
                column: "calc_time"
            }
        );
    }

    #[test]
    fn blank_lines_fail_the_row_count_check() {
        let e = funding_rate_fails("1704067200000,8,0.0001\n\n1704067200001,8,0.0002\n");
        assert!(
            matches!(e.problem, Problem::RowCount { csv: 3, parquet: 2 }),
            "{e}"
        );
    }

    #[test]
    fn zips_without_a_csv_or_corrupt_fail() {
        let mut c = case(Market::FuturesUm, "fundingRate", "2024-01", "");
        let z = zip_with(&[("readme.txt", b"hello")]);
        c.job.zip_path = z.path().to_path_buf();
        assert!(matches!(failure(&c).problem, Problem::NoCsv { .. }));

        let bad = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(bad.path(), b"PK\x03\x04 definitely not a zip").unwrap();
        c.job.zip_path = bad.path().to_path_buf();
        assert!(matches!(failure(&c).problem, Problem::Zip(_)));

        // A zip whose compressed bytes were damaged: the inflate or the CRC check fails.
        let rows: String = (0..2000)
            .map(|i| format!("{},8,0.0001\n", 1704067200000i64 + i))
            .collect();
        let z = zip_with(&[("X.csv", rows.as_bytes())]);
        let mut bytes = std::fs::read(z.path()).unwrap();
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 16] {
            *b ^= 0x5a;
        }
        std::fs::write(z.path(), &bytes).unwrap();
        c.job.zip_path = z.path().to_path_buf();
        let e = failure(&c);
        assert!(
            matches!(
                e.problem,
                Problem::Zip(_) | Problem::Value { .. } | Problem::Columns { .. } | Problem::Csv(_)
            ),
            "{e}"
        );
    }

    #[test]
    fn several_csvs_pick_the_one_named_like_the_zip() {
        let mut c = case(Market::FuturesUm, "fundingRate", "2024-01", "");
        c.job.key = "data/futures/um/monthly/fundingRate/X/X-fundingRate-2024-01.zip".into();
        let z = zip_with(&[
            ("other.csv", b"garbage"),
            ("X-fundingRate-2024-01.csv", b"1704067200000,8,0.0001\n"),
        ]);
        c.job.zip_path = z.path().to_path_buf();
        assert_eq!(convert(&c.job).unwrap().rows, 1);
    }

    #[test]
    fn an_empty_csv_is_an_empty_table() {
        let c = case(
            Market::FuturesUm,
            "fundingRate",
            "2024-01",
            "calc_time,funding_interval_hours,last_funding_rate\n",
        );
        let r = convert(&c.job).unwrap();
        assert_eq!((r.rows, r.min_time_us), (0, None));
    }

    #[test]
    fn date_ranges() {
        let (s, e, l) = date_range_us(crate::select::archive::file_date("X-2024-02.zip").unwrap());
        assert_eq!(l, "2024-02");
        assert_eq!(format_us(s), "2024-02-01T00:00:00Z");
        assert_eq!(format_us(e), "2024-03-01T00:00:00Z");
        let (s, e, _) =
            date_range_us(crate::select::archive::file_date("X-2024-12-31.zip").unwrap());
        assert_eq!(e - s, MICROS_PER_DAY);
        assert_eq!(format_us(e), "2025-01-01T00:00:00Z");
    }
}
