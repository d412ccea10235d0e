//! Documents the model's context came from, stored by content and mapped to page and line.
//!
//! `cutufato docs add` reads a PDF (text layer), Markdown, plain text or HTML file, extracts its
//! lines page by page, and stores the original bytes and the extraction under the SHA-256 of the
//! bytes. The extractor's name and version are stored with it, so a reference "page 7, line 42"
//! reproduces: the same bytes through the same extractor give the same lines.
//!
//! What a *page* and a *line* are, per format (all numbers 1-based):
//!
//! - **PDF**: page = physical page index; line = see [`pdf`] (a run of text on one baseline, in
//!   content-stream order; empty lines dropped).
//! - **Plain text and Markdown**: the source file as an editor shows it: every line counts,
//!   blank ones included; a form feed (`\x0C`) starts a new page, otherwise there is one page.
//!   Markdown is not rendered, so a line reference points into the `.md` file itself.
//! - **HTML**: one page; line = a line of the visible text, see [`html`] (blank lines dropped).

pub mod html;
pub mod pdf;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::attribution::Chunk;

/// Largest document accepted (256 MiB).
pub const MAX_DOCUMENT_BYTES: u64 = 256 << 20;
/// Name of the text extractor for plain text, Markdown and HTML.
pub const TEXT_EXTRACTOR: &str = "cutufato-text-lines";
/// Version of the text and HTML line rules.
pub const TEXT_EXTRACTOR_VERSION: &str = "1.0.0";

/// Errors of document ingestion and lookup.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the PDF: {0}")]
    Pdf(String),
    #[error("{0}: the document is empty")]
    Empty(String),
    #[error("{0}: no text found (a scanned PDF has no text layer: run OCR on it first)")]
    NoText(String),
    #[error("{0}: not UTF-8 text; convert it to UTF-8 first (for example with iconv)")]
    NotUtf8(String),
    #[error("{name}: {size} bytes is over the limit of {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge { name: String, size: u64 },
    #[error("no stored document matches {0:?}: list them with `cutufato docs list`")]
    NotFound(String),
    #[error("{0:?} matches several stored documents: give more of the SHA-256")]
    Ambiguous(String),
    #[error("stored document {0} is damaged: {1}")]
    Damaged(String, String),
}

/// Format of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pdf,
    Markdown,
    Text,
    Html,
}

/// The program that turned the bytes into lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extractor {
    pub name: String,
    pub version: String,
}

/// One page of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub number: u32,
    pub lines: Vec<String>,
}

/// A document with its page and line map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// SHA-256 of the original bytes, hex.
    pub sha256: String,
    /// File name given when added.
    pub name: String,
    pub format: Format,
    pub bytes: u64,
    pub extractor: Extractor,
    pub pages: Vec<Page>,
}

/// Why a chunk does not match its cited place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkMismatch {
    #[error("the chunk names no document (doc_sha256 or doc_id)")]
    NoDocument,
    #[error("document {0} is not in the store")]
    UnknownDocument(String),
    #[error("the chunk gives no page and line")]
    NoPlace,
    #[error("{doc} has {pages} pages; the chunk cites page {page}")]
    NoSuchPage {
        doc: String,
        page: u32,
        pages: usize,
    },
    #[error("{doc} page {page} has {lines} lines; the chunk cites line {line}")]
    NoSuchLine {
        doc: String,
        page: u32,
        line: u32,
        lines: usize,
    },
    #[error("{doc} p.{page} l.{line} reads {found:?}, not the chunk's text")]
    TextDiffers {
        doc: String,
        page: u32,
        line: u32,
        found: String,
    },
}

fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Document {
    /// Number of lines over all pages.
    pub fn line_count(&self) -> usize {
        self.pages.iter().map(|p| p.lines.len()).sum()
    }

    /// Cuts the document into chunks of consecutive non-blank lines (a paragraph in text and
    /// Markdown), at most `max_lines` lines each, never across pages. Each chunk cites its page and
    /// first line.
    pub fn chunks(&self, max_lines: usize) -> Vec<Chunk> {
        let max_lines = max_lines.max(1);
        let mut out = Vec::new();
        for page in &self.pages {
            let mut start: Option<usize> = None;
            for i in 0..=page.lines.len() {
                let blank = page.lines.get(i).is_none_or(|l| l.trim().is_empty());
                if let Some(s) = start
                    && (blank || i - s == max_lines)
                {
                    out.push(Chunk {
                        text: page.lines[s..i].join("\n"),
                        doc_id: Some(self.name.clone()),
                        doc_sha256: Some(self.sha256.clone()),
                        page: Some(page.number),
                        line: u32::try_from(s + 1).ok(),
                        score: None,
                    });
                    start = None;
                }
                if !blank && start.is_none() {
                    start = Some(i);
                }
            }
        }
        out
    }

    /// Checks that `chunk`'s text is in this document at its cited page and line (white space
    /// compared loosely: runs of spaces and line breaks are equal).
    pub fn check(&self, chunk: &Chunk) -> Result<(), ChunkMismatch> {
        let (Some(page), Some(line)) = (chunk.page, chunk.line) else {
            return Err(ChunkMismatch::NoPlace);
        };
        let doc = self.name.clone();
        let p = self
            .pages
            .iter()
            .find(|p| p.number == page)
            .ok_or(ChunkMismatch::NoSuchPage {
                doc: doc.clone(),
                page,
                pages: self.pages.len(),
            })?;
        let idx = (line as usize)
            .checked_sub(1)
            .filter(|&i| i < p.lines.len())
            .ok_or(ChunkMismatch::NoSuchLine {
                doc: doc.clone(),
                page,
                line,
                lines: p.lines.len(),
            })?;
        let want = normalize(&chunk.text);
        let have = normalize(&p.lines[idx..].join("\n"));
        if have.starts_with(&want) {
            Ok(())
        } else {
            let found: String = have
                .chars()
                .take(want.chars().count().clamp(20, 80))
                .collect();
            Err(ChunkMismatch::TextDiffers {
                doc,
                page,
                line,
                found,
            })
        }
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The format of a file, from its extension, else from its first bytes.
pub fn detect_format(name: &str, bytes: &[u8]) -> Format {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "pdf" => Format::Pdf,
        "md" | "markdown" => Format::Markdown,
        "html" | "htm" | "xhtml" => Format::Html,
        "txt" | "text" => Format::Text,
        _ if bytes.starts_with(b"%PDF-") => Format::Pdf,
        _ => {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
            if head.trim_start().starts_with("<!doctype html") || head.contains("<html") {
                Format::Html
            } else {
                Format::Text
            }
        }
    }
}

/// Extracts the page and line map of a document named `name` with content `bytes`.
pub fn extract(name: &str, bytes: &[u8]) -> Result<Document, DocError> {
    if bytes.is_empty() {
        return Err(DocError::Empty(name.to_string()));
    }
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(DocError::TooLarge {
            name: name.to_string(),
            size: bytes.len() as u64,
        });
    }
    let format = detect_format(name, bytes);
    let text_extractor = || Extractor {
        name: TEXT_EXTRACTOR.into(),
        version: TEXT_EXTRACTOR_VERSION.into(),
    };
    let (pages, extractor): (Vec<Vec<String>>, Extractor) = match format {
        Format::Pdf => (
            pdf::extract(bytes)?,
            Extractor {
                name: pdf::EXTRACTOR.into(),
                version: pdf::EXTRACTOR_VERSION.into(),
            },
        ),
        Format::Html => {
            let text =
                std::str::from_utf8(bytes).map_err(|_| DocError::NotUtf8(name.to_string()))?;
            (vec![html::extract(text)], text_extractor())
        }
        Format::Text | Format::Markdown => {
            let text =
                std::str::from_utf8(bytes).map_err(|_| DocError::NotUtf8(name.to_string()))?;
            let text = text
                .strip_prefix('\u{feff}')
                .unwrap_or(text)
                .replace("\r\n", "\n");
            let pages = text
                .split('\x0C')
                .map(|p| {
                    let p = p.strip_suffix('\n').unwrap_or(p);
                    p.split('\n')
                        .map(|l| l.trim_end_matches('\r').to_string())
                        .collect()
                })
                .collect();
            (pages, text_extractor())
        }
    };
    let pages: Vec<Page> = pages
        .into_iter()
        .enumerate()
        .map(|(i, lines)| Page {
            number: (i + 1) as u32,
            lines,
        })
        .collect();
    if pages
        .iter()
        .all(|p| p.lines.iter().all(|l| l.trim().is_empty()))
    {
        return Err(DocError::NoText(name.to_string()));
    }
    Ok(Document {
        sha256: sha256_hex(bytes),
        name: name.to_string(),
        format,
        bytes: bytes.len() as u64,
        extractor,
        pages,
    })
}

/// A content-addressed store of documents: `<root>/documents/<sha256>.json` holds the page and
/// line map, `<sha256>.orig` the original bytes.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: &Path) -> Result<Store, DocError> {
        let dir = root.join("documents");
        fs::create_dir_all(&dir).map_err(|source| DocError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Store { dir })
    }

    /// Reads, extracts and stores the file at `path`; returns the document and whether it was new
    /// (adding the same bytes twice stores them once).
    pub fn add(&self, path: &Path) -> Result<(Document, bool), DocError> {
        let io = |source| DocError::Io {
            path: path.to_path_buf(),
            source,
        };
        let size = fs::metadata(path).map_err(io)?.len();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if size > MAX_DOCUMENT_BYTES {
            return Err(DocError::TooLarge { name, size });
        }
        let bytes = fs::read(path).map_err(io)?;
        let sha = sha256_hex(&bytes);
        if let Ok(existing) = self.get(&sha) {
            return Ok((existing, false));
        }
        let doc = extract(&name, &bytes)?;
        self.write_atomic(&format!("{sha}.orig"), &bytes)?;
        let json = serde_json::to_vec_pretty(&doc)
            .map_err(|e| DocError::Damaged(sha.clone(), e.to_string()))?;
        self.write_atomic(&format!("{sha}.json"), &json)?;
        Ok((doc, true))
    }

    fn write_atomic(&self, file: &str, bytes: &[u8]) -> Result<(), DocError> {
        let path = self.dir.join(file);
        let tmp = self.dir.join(format!(".{file}.tmp"));
        let io = |source| DocError::Io {
            path: path.clone(),
            source,
        };
        let mut f = fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)
    }

    /// All stored documents, sorted by name then hash.
    pub fn list(&self) -> Result<Vec<Document>, DocError> {
        let rd = fs::read_dir(&self.dir).map_err(|source| DocError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let mut docs = Vec::new();
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(sha) = name.strip_suffix(".json")
                && !name.starts_with('.')
            {
                docs.push(self.load(sha)?);
            }
        }
        docs.sort_by(|a, b| a.name.cmp(&b.name).then(a.sha256.cmp(&b.sha256)));
        Ok(docs)
    }

    fn load(&self, sha: &str) -> Result<Document, DocError> {
        let path = self.dir.join(format!("{sha}.json"));
        let bytes = fs::read(&path).map_err(|source| DocError::Io {
            path: path.clone(),
            source,
        })?;
        let doc: Document = serde_json::from_slice(&bytes)
            .map_err(|e| DocError::Damaged(sha.to_string(), e.to_string()))?;
        if doc.sha256 != sha {
            return Err(DocError::Damaged(
                sha.to_string(),
                format!("its map names {}", doc.sha256),
            ));
        }
        Ok(doc)
    }

    /// The document with this SHA-256, unique SHA-256 prefix (8 hex digits or more) or name.
    pub fn get(&self, id: &str) -> Result<Document, DocError> {
        let is_hex = id.len() >= 8 && id.chars().all(|c| c.is_ascii_hexdigit());
        if id.len() == 64 && is_hex {
            let id = id.to_ascii_lowercase();
            if self.dir.join(format!("{id}.json")).exists() {
                return self.load(&id);
            }
            return Err(DocError::NotFound(id));
        }
        let matches: Vec<Document> = self
            .list()?
            .into_iter()
            .filter(|d| d.name == id || (is_hex && d.sha256.starts_with(&id.to_ascii_lowercase())))
            .collect();
        match matches.len() {
            0 => Err(DocError::NotFound(id.to_string())),
            1 => Ok(matches
                .into_iter()
                .next()
                .ok_or_else(|| DocError::NotFound(id.to_string()))?),
            _ => Err(DocError::Ambiguous(id.to_string())),
        }
    }

    /// Checks that the original bytes of document `sha` still hash to `sha` and that extracting
    /// them again gives the stored line map.
    pub fn check_integrity(&self, sha: &str) -> Result<(), DocError> {
        let doc = self.load(sha)?;
        let path = self.dir.join(format!("{sha}.orig"));
        let bytes = fs::read(&path).map_err(|source| DocError::Io { path, source })?;
        if sha256_hex(&bytes) != sha {
            return Err(DocError::Damaged(
                sha.into(),
                "the original bytes no longer match their hash".into(),
            ));
        }
        let again = extract(&doc.name, &bytes)?;
        if again.extractor == doc.extractor && again.pages != doc.pages {
            return Err(DocError::Damaged(
                sha.into(),
                "the stored line map differs from a fresh extraction".into(),
            ));
        }
        Ok(())
    }

    /// Checks `chunk` against the stored document it cites (by `doc_sha256`, else `doc_id`).
    pub fn check_chunk(&self, chunk: &Chunk) -> Result<(), ChunkMismatch> {
        let id = chunk
            .doc_sha256
            .as_deref()
            .or(chunk.doc_id.as_deref())
            .ok_or(ChunkMismatch::NoDocument)?;
        let doc = self
            .get(id)
            .map_err(|_| ChunkMismatch::UnknownDocument(id.to_string()))?;
        doc.check(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_count_blank_lines_and_form_feeds_start_pages() {
        let d = extract("n.txt", b"alpha\n\nbeta\n\x0Cgamma\ndelta\n").unwrap();
        assert_eq!(d.pages.len(), 2);
        assert_eq!(d.pages[0].lines, vec!["alpha", "", "beta"]);
        assert_eq!(d.pages[1].lines, vec!["gamma", "delta"]);
        let chunks = d.chunks(10);
        let places: Vec<(u32, u32)> = chunks
            .iter()
            .map(|c| (c.page.unwrap(), c.line.unwrap()))
            .collect();
        assert_eq!(places, vec![(1, 1), (1, 3), (2, 1)]);
        for c in &chunks {
            d.check(c).unwrap();
        }
    }

    #[test]
    fn check_names_what_differs() {
        let d = extract("n.md", b"# Title\nThe fee is 40 euros.\n").unwrap();
        let mut c = Chunk::text("The fee is 40 euros.");
        (c.page, c.line) = (Some(1), Some(2));
        d.check(&c).unwrap();
        c.line = Some(1);
        assert!(matches!(
            d.check(&c),
            Err(ChunkMismatch::TextDiffers { .. })
        ));
        c.line = Some(9);
        assert!(matches!(
            d.check(&c),
            Err(ChunkMismatch::NoSuchLine { lines: 2, .. })
        ));
        c.page = Some(2);
        assert!(matches!(d.check(&c), Err(ChunkMismatch::NoSuchPage { .. })));
    }

    #[test]
    fn empty_and_binary_inputs_are_refused() {
        assert!(matches!(extract("e.txt", b""), Err(DocError::Empty(_))));
        assert!(matches!(
            extract("b.txt", &[0xff, 0xfe, 0x00]),
            Err(DocError::NotUtf8(_))
        ));
        assert!(matches!(
            extract("w.txt", b"  \n\n"),
            Err(DocError::NoText(_))
        ));
    }
}
