//! A minimal writer of the `newc` cpio format, the one the Linux kernel unpacks as an initramfs.
//! Only what an initramfs needs: directories and regular files, owned by root.

/// An archive being written in memory.
#[derive(Debug, Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    /// An empty archive.
    pub fn new() -> Self {
        Self {
            out: Vec::new(),
            ino: 1,
        }
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) {
        let namesize = name.len() + 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0, // uid
            0, // gid
            1, // nlink
            0, // mtime: fixed, so the archive is reproducible
            data.len(),
            0,
            0,
            0,
            0,
            namesize,
            0, // check
        );
        self.ino += 1;
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    /// Adds a directory (`perm` without the type bits).
    pub fn dir(&mut self, name: &str, perm: u32) {
        self.entry(name, 0o040000 | perm, &[]);
    }

    /// Adds a regular file.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, 0o100000 | perm, data);
    }

    /// The archive bytes, with the trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_tool_lists_and_extracts_what_we_wrote() {
        let mut c = Cpio::new();
        c.dir("lib", 0o755);
        c.file("lib/a.txt", 0o644, b"hello");
        c.file("init", 0o755, b"odd-len");
        let bytes = c.finish();
        assert_eq!(bytes.len() % 4, 0);
        let d = tempfile::tempdir().unwrap();
        let archive = d.path().join("x.cpio");
        std::fs::write(&archive, &bytes).unwrap();
        let Ok(out) = std::process::Command::new("cpio")
            .args(["-idm", "--quiet", "-F"])
            .arg(&archive)
            .current_dir(d.path())
            .output()
        else {
            eprintln!("skipped: the cpio tool is not installed");
            return;
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(d.path().join("lib/a.txt")).unwrap(), b"hello");
        assert_eq!(std::fs::read(d.path().join("init")).unwrap(), b"odd-len");
    }
}
