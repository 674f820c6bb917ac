//! A stored (uncompressed) zip holding one CSV, laid out to an exact total size, and read
//! from any byte offset.
//!
//! Layout: local file header, the CSV, one central directory entry, the end record whose
//! comment pads the file to its size (a zip comment is ignored by every reader). Stored
//! rather than deflated so the size can be chosen first (the listing needs it without
//! generating anything) and the content filled to it; the CSV then holds as many whole rows
//! as that size allows (see the README: sizes are realistic *compressed* sizes, so a 1m
//! kline day holds its first few hundred rows, not all 1,440).

use super::csv::Layout;

/// Local header + central entry + end record, without names and comment.
pub const FIXED_OVERHEAD: u64 = 30 + 46 + 22;
const MAX_COMMENT: u64 = 65_535;

#[derive(Clone, Debug)]
pub struct ZipPlan {
    pub layout: Layout,
    /// The CSV's name inside the zip.
    pub entry: Vec<u8>,
    pub rows: u64,
    pub csv_len: u64,
    pub comment_len: u64,
    pub total: u64,
    dos_time: u16,
    dos_date: u16,
}

impl ZipPlan {
    /// A zip of exactly `total` bytes, or None when that cannot hold a header and the zip
    /// records (or exceeds what a zip without ZIP64 records can describe).
    pub fn new(layout: Layout, entry: Vec<u8>, total: u64) -> Option<ZipPlan> {
        let overhead = FIXED_OVERHEAD + 2 * entry.len() as u64;
        let budget = total.checked_sub(overhead)?;
        if budget < layout.header().len() as u64 || total > u64::from(u32::MAX) {
            return None;
        }
        let mut rows = layout.rows_for(budget);
        if let Some(natural) = layout.natural
            && rows > natural
            && budget - layout.csv_len(natural) <= MAX_COMMENT
        {
            rows = natural;
        }
        let csv_len = layout.csv_len(rows);
        let comment_len = budget - csv_len;
        if comment_len > MAX_COMMENT {
            return None;
        }
        let day = layout.spec.start_ms.div_euclid(86_400_000) as i32;
        let (y, m, d) = crate::time::civil_from_days(day);
        let dos_date = (((y - 1980).clamp(0, 127) as u16) << 9) | ((m as u16) << 5) | d as u16;
        Some(ZipPlan {
            layout,
            entry,
            rows,
            csv_len,
            comment_len,
            total,
            dos_time: 0,
            dos_date,
        })
    }

    fn local_len(&self) -> u64 {
        30 + self.entry.len() as u64
    }

    fn central_at(&self) -> u64 {
        self.local_len() + self.csv_len
    }

    /// The fields the local header and the central directory entry share: time, date, CRC-32,
    /// compressed and uncompressed sizes (equal: stored), name length.
    fn put_entry_fields(&self, v: &mut Vec<u8>, crc: u32) {
        v.extend_from_slice(&self.dos_time.to_le_bytes());
        v.extend_from_slice(&self.dos_date.to_le_bytes());
        v.extend_from_slice(&crc.to_le_bytes());
        v.extend_from_slice(&(self.csv_len as u32).to_le_bytes());
        v.extend_from_slice(&(self.csv_len as u32).to_le_bytes());
        v.extend_from_slice(&(self.entry.len() as u16).to_le_bytes());
    }

    /// The local header (it carries the CSV's CRC-32).
    fn local_header(&self, crc: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.local_len() as usize);
        v.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        v.extend_from_slice(&10u16.to_le_bytes()); // version needed: 1.0 (stored)
        v.extend_from_slice(&0u16.to_le_bytes()); // flags
        v.extend_from_slice(&0u16.to_le_bytes()); // method: stored
        self.put_entry_fields(&mut v, crc);
        v.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        v.extend_from_slice(&self.entry);
        v
    }

    /// Central directory entry and end record, comment included.
    fn trailer(&self, crc: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity((self.total - self.central_at()) as usize);
        v.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        v.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: unix, 2.0
        v.extend_from_slice(&10u16.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        self.put_entry_fields(&mut v, crc);
        v.extend_from_slice(&[0; 2]); // extra
        v.extend_from_slice(&[0; 2]); // comment
        v.extend_from_slice(&[0; 2]); // disk
        v.extend_from_slice(&[0; 2]); // internal attributes
        v.extend_from_slice(&(0o100644u32 << 16).to_le_bytes()); // external: -rw-r--r--
        v.extend_from_slice(&0u32.to_le_bytes()); // local header at 0
        v.extend_from_slice(&self.entry);
        let cd_len = (v.len()) as u32;
        v.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        v.extend_from_slice(&[0; 4]); // disk numbers
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&cd_len.to_le_bytes());
        v.extend_from_slice(&(self.central_at() as u32).to_le_bytes());
        v.extend_from_slice(&(self.comment_len as u16).to_le_bytes());
        const PAD: &[u8] =
            b"archive-sim padding: this zip is as large as the archive's compressed file. ";
        for i in 0..self.comment_len as usize {
            v.push(PAD[i % PAD.len()]);
        }
        v
    }

    /// CRC-32 of the CSV (one pass over the rows).
    pub fn crc(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        let mut r = CsvReader::new(self, 0);
        let mut buf = Vec::with_capacity(1 << 16);
        while r.fill(self, &mut buf, 1 << 16) {
            h.update(&buf);
            buf.clear();
        }
        h.finalize()
    }

    /// A reader of bytes `start..end` of the zip, given the CSV's CRC.
    pub fn reader(&self, crc: u32, start: u64, end: u64) -> ZipReader {
        ZipReader {
            pos: start,
            end: end.min(self.total),
            head: self.local_header(crc),
            tail: self.trailer(crc),
            csv: None,
        }
    }
}

/// Rows from a CSV offset on.
struct CsvReader {
    /// CSV offset of the next byte to produce.
    off: u64,
    row: u64,
    /// Bytes to drop from the next row (a read that starts inside a row).
    skip: usize,
}

impl CsvReader {
    fn new(plan: &ZipPlan, off: u64) -> CsvReader {
        let header = plan.layout.header().len() as u64;
        if off <= header || plan.rows == 0 {
            return CsvReader {
                off,
                row: 0,
                skip: 0,
            };
        }
        let row = plan.layout.row_at(off, plan.rows);
        let skip = (off - plan.layout.row_offset(row)) as usize;
        CsvReader { off, row, skip }
    }

    /// Append up to about `max` bytes; false when the CSV is done.
    fn fill(&mut self, plan: &ZipPlan, out: &mut Vec<u8>, max: usize) -> bool {
        let start = out.len();
        let header = plan.layout.header().as_bytes();
        if (self.off as usize) < header.len() {
            out.extend_from_slice(&header[self.off as usize..]);
            self.off = header.len() as u64;
        }
        while out.len() - start < max && self.row < plan.rows {
            let at = out.len();
            plan.layout.push_row(out, self.row, plan.rows);
            if self.skip > 0 {
                out.drain(at..at + self.skip);
                self.skip = 0;
            }
            self.row += 1;
        }
        self.off += (out.len() - start) as u64;
        out.len() > start
    }
}

/// Produces a byte range of a zip in chunks.
pub struct ZipReader {
    pos: u64,
    end: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    csv: Option<CsvReader>,
}

impl ZipReader {
    /// Append the next chunk (about `max` bytes); false at the end of the range.
    pub fn fill(&mut self, plan: &ZipPlan, out: &mut Vec<u8>, max: usize) -> bool {
        let start = out.len();
        while self.pos < self.end && out.len() - start < max {
            let head_len = self.head.len() as u64;
            let central = plan.central_at();
            if self.pos < head_len {
                let to = head_len.min(self.end);
                out.extend_from_slice(&self.head[self.pos as usize..to as usize]);
                self.pos = to;
            } else if self.pos < central {
                let csv = self
                    .csv
                    .get_or_insert_with(|| CsvReader::new(plan, self.pos - head_len));
                let want = (self.end.min(central) - self.pos) as usize;
                let at = out.len();
                csv.fill(plan, out, want.min(max));
                let got = out.len() - at;
                if got == 0 {
                    break; // cannot happen with a consistent plan; never spin
                }
                if got > want {
                    out.truncate(at + want);
                    // The reader ran ahead: restart it where this range ends next time.
                    self.csv = None;
                }
                self.pos += (out.len() - at) as u64;
            } else {
                let from = (self.pos - central) as usize;
                let to = ((self.end - central) as usize).min(self.tail.len());
                out.extend_from_slice(&self.tail[from..to]);
                self.pos = self.end;
            }
        }
        out.len() > start
    }
}
