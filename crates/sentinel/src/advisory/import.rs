//! Import of OSV records into the store: an OSV dump (`all.zip`, one `<ID>.json` per record), a
//! directory of `.json` records (searched recursively, e.g. a checkout of an advisory database)
//! or a single `.json` record.
//!
//! Streaming: one record is in memory at a time. All-or-nothing: the whole import is one
//! transaction, so a malformed record or archive leaves the store unchanged and the error names
//! the file. Idempotent: a record whose stored copy is as new is left alone.
use std::io::Read;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use super::store::{ImportStats, Store, Writer};
use super::{AdvisoryError, osv};

/// Largest record accepted. The biggest real OSV records (long `versions` lists) are a few
/// hundred KiB; the cap stops a zip bomb from filling memory.
pub const MAX_RECORD_BYTES: u64 = 16 * 1024 * 1024;

/// How an import reports progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A progress bar on stderr (drawn only when stderr is a terminal).
    Bar,
    Quiet,
}

fn bar(progress: Progress, len: u64, what: &str) -> ProgressBar {
    if progress == Progress::Quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} records ({per_sec}, eta {eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_owned());
    pb
}

/// Imports `path` (zip, directory or `.json` file) in one transaction.
pub fn import_path(
    store: &mut Store,
    path: &Path,
    progress: Progress,
) -> Result<ImportStats, AdvisoryError> {
    let meta = std::fs::metadata(path).map_err(|source| AdvisoryError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let source = path.display().to_string();
    let mut writer = store.writer()?;
    if meta.is_dir() {
        import_dir(&mut writer, path, progress)?;
    } else if is_zip(path)? {
        let file = std::fs::File::open(path).map_err(|source| AdvisoryError::Io {
            path: source_name(path),
            source,
        })?;
        import_zip(&mut writer, file, &source, progress)?;
    } else if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        let bytes = read_capped(std::fs::File::open(path), path)?;
        put(&mut writer, &bytes, &source, &source)?;
    } else {
        return Err(AdvisoryError::UnknownSource { path: source });
    }
    writer.commit(&source)
}

fn source_name(path: &Path) -> String {
    path.display().to_string()
}

fn is_zip(path: &Path) -> Result<bool, AdvisoryError> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
    {
        return Ok(true);
    }
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|source| AdvisoryError::Io {
        path: source_name(path),
        source,
    })?;
    let n = f.read(&mut magic).map_err(|source| AdvisoryError::Io {
        path: source_name(path),
        source,
    })?;
    Ok(n == 4 && magic == *b"PK\x03\x04")
}

fn read_capped(
    file: std::io::Result<std::fs::File>,
    path: &Path,
) -> Result<Vec<u8>, AdvisoryError> {
    let file = file.map_err(|source| AdvisoryError::Io {
        path: source_name(path),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| AdvisoryError::Io {
            path: source_name(path),
            source,
        })?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(AdvisoryError::MalformedRecord {
            file: source_name(path),
            reason: format!("larger than {MAX_RECORD_BYTES} bytes"),
        });
    }
    Ok(bytes)
}

fn put(
    writer: &mut Writer<'_>,
    bytes: &[u8],
    file: &str,
    source: &str,
) -> Result<(), AdvisoryError> {
    let record =
        osv::Record::from_slice(bytes).map_err(|reason| AdvisoryError::MalformedRecord {
            file: file.to_owned(),
            reason,
        })?;
    writer.put(&record, source)?;
    Ok(())
}

/// Imports every `.json` entry of a zip read from `reader` into `writer` (the caller commits).
pub fn import_zip<R: Read + std::io::Seek>(
    writer: &mut Writer<'_>,
    reader: R,
    label: &str,
    progress: Progress,
) -> Result<(), AdvisoryError> {
    let bad_zip = |e: zip::result::ZipError| AdvisoryError::MalformedZip {
        file: label.to_owned(),
        reason: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(reader).map_err(bad_zip)?;
    let pb = bar(progress, archive.len() as u64, "importing");
    let mut buf = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(bad_zip)?;
        let name = entry.name().map_err(bad_zip)?.into_owned();
        if entry.is_dir() || !name.to_ascii_lowercase().ends_with(".json") {
            pb.inc(1);
            continue;
        }
        let file = format!("{label}: {name}");
        if entry.size() > MAX_RECORD_BYTES {
            return Err(AdvisoryError::MalformedRecord {
                file,
                reason: format!("larger than {MAX_RECORD_BYTES} bytes"),
            });
        }
        buf.clear();
        entry
            .take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|e| AdvisoryError::MalformedZip {
                file: file.clone(),
                reason: e.to_string(),
            })?;
        if buf.len() as u64 > MAX_RECORD_BYTES {
            return Err(AdvisoryError::MalformedRecord {
                file,
                reason: format!("larger than {MAX_RECORD_BYTES} bytes"),
            });
        }
        put(writer, &buf, &file, label)?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(())
}

fn import_dir(
    writer: &mut Writer<'_>,
    dir: &Path,
    progress: Progress,
) -> Result<(), AdvisoryError> {
    let mut files = Vec::new();
    collect_json(dir, &mut files)?;
    files.sort();
    let pb = bar(progress, files.len() as u64, "importing");
    let source = dir.display().to_string();
    for f in &files {
        let bytes = read_capped(std::fs::File::open(f), f)?;
        put(writer, &bytes, &f.display().to_string(), &source)?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(())
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), AdvisoryError> {
    let entries = std::fs::read_dir(dir).map_err(|source| AdvisoryError::Io {
        path: source_name(dir),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| AdvisoryError::Io {
            path: source_name(dir),
            source,
        })?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|source| AdvisoryError::Io {
            path: source_name(&path),
            source,
        })?;
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if kind.is_dir() {
            collect_json(&path, out)?;
        } else if kind.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            out.push(path);
        }
    }
    Ok(())
}
