//! Wire protocol between babuino (host) and babuino-guest (the micro-VM's init), carried over a
//! virtio-serial port (this host has no vsock).
//!
//! A frame is `kind: u8`, `len: u32 LE`, then `len` bytes of payload. Payload fields are
//! little-endian integers and length-prefixed byte strings. The decoder refuses frames larger than
//! [`MAX_FRAME`], so a compromised guest cannot make the host allocate without bound.

/// Largest payload accepted in one frame (1 MiB + header room): a guest that sends more is broken
/// or hostile and the host stops reading from it.
pub const MAX_FRAME: usize = (1 << 20) + 4096;

/// Largest chunk of stdout/stderr or file data the guest puts in one frame.
pub const CHUNK: usize = 32 * 1024;

/// Why the user's program ended, as the guest saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestExit {
    /// Exited normally with this code.
    Code(i32),
    /// Killed by this signal (not by the guest's OOM killer).
    Signal(i32),
    /// Killed by the guest kernel's OOM killer (the VM's RAM limit was reached).
    OutOfMemory,
}

/// What the host asks the guest to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    /// Program and arguments; the program is looked up in `PATH` of `env`.
    pub argv: Vec<String>,
    /// The whole environment of the program (nothing else is inherited).
    pub env: Vec<(String, String)>,
    /// Working directory inside the guest (the code directory).
    pub cwd: String,
    /// Guest directory whose regular files are sent back after the run (created empty, writable).
    pub output_dir: Option<String>,
    /// Most bytes of output files sent back; files past it are skipped and reported.
    pub output_files_limit: u64,
    /// uid and gid the program runs as inside the guest (never 0).
    pub uid: u32,
    /// Most processes and threads of the program (RLIMIT_NPROC of its uid).
    pub pids: u64,
    /// Size of the writable tmpfs `/tmp` and `/out`, bytes each.
    pub tmp_bytes: u64,
    /// When set, the guest listens on 127.0.0.1:port and relays each connection over this
    /// channel to the host's egress proxy (there is no NIC: nothing else leaves the VM).
    pub proxy_port: Option<u16>,
    /// The program's stdin is a pipe fed by [`Msg::Stdin`] frames (else `/dev/null`).
    pub stdin: bool,
}

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// host → guest: what to run.
    Spec(Spec),
    /// guest → host: the agent is up (guest uptime in ms).
    Hello { uptime_ms: u64 },
    /// guest → host: the user's program is about to run (guest uptime in ms).
    Started { uptime_ms: u64 },
    /// guest → host: a chunk of the program's stdout.
    Stdout(Vec<u8>),
    /// guest → host: a chunk of the program's stderr.
    Stderr(Vec<u8>),
    /// guest → host: an operation the sandbox refused (kind, detail).
    Denial { kind: String, detail: String },
    /// guest → host: how the program ended.
    Exit(GuestExit),
    /// guest → host: a directory of the output tree (relative path).
    Dir { path: String },
    /// guest → host: a chunk of a regular file of the output tree (relative path). The first
    /// chunk has `offset == 0`; chunks arrive in order.
    File {
        path: String,
        mode: u32,
        offset: u64,
        data: Vec<u8>,
    },
    /// guest → host: an output entry that was not sent (symlink, device, over the limit, …).
    Skipped { path: String, reason: String },
    /// guest → host: a diagnostic of the agent itself (setup failed, …).
    Log(String),
    /// guest → host: nothing more will be sent.
    Done,
    /// guest → host: the program opened connection `id` to the proxy port.
    ConnOpen { id: u32 },
    /// both ways: bytes of connection `id`.
    ConnData { id: u32, data: Vec<u8> },
    /// both ways: connection `id` is closed (no more data in this direction).
    ConnClose { id: u32 },
    /// host → guest: bytes for the program's stdin; empty means end of input.
    Stdin(Vec<u8>),
}

/// A malformed frame or payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoError {
    /// A frame announced a payload larger than [`MAX_FRAME`].
    TooLarge(usize),
    /// Unknown frame kind.
    UnknownKind(u8),
    /// The payload ended early or had trailing bytes or bad UTF-8.
    BadPayload(u8),
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtoError::TooLarge(n) => {
                write!(f, "frame of {n} bytes exceeds the {MAX_FRAME} byte limit")
            }
            ProtoError::UnknownKind(k) => write!(f, "unknown frame kind {k:#04x}"),
            ProtoError::BadPayload(k) => write!(f, "malformed payload in frame kind {k:#04x}"),
        }
    }
}

impl std::error::Error for ProtoError {}

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

struct R<'a> {
    b: &'a [u8],
    kind: u8,
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.b.len() < n {
            return Err(ProtoError::BadPayload(self.kind));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, ProtoError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, ProtoError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, ProtoError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn str(&mut self) -> Result<String, ProtoError> {
        String::from_utf8(self.bytes()?).map_err(|_| ProtoError::BadPayload(self.kind))
    }
    fn end(&self) -> Result<(), ProtoError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(ProtoError::BadPayload(self.kind))
        }
    }
}

const K_SPEC: u8 = b'S';
const K_HELLO: u8 = b'H';
const K_STARTED: u8 = b'B';
const K_STDOUT: u8 = b'O';
const K_STDERR: u8 = b'E';
const K_DENIAL: u8 = b'D';
const K_EXIT: u8 = b'X';
const K_DIR: u8 = b'd';
const K_FILE: u8 = b'F';
const K_SKIPPED: u8 = b's';
const K_LOG: u8 = b'L';
const K_DONE: u8 = b'Z';
const K_CONN_OPEN: u8 = b'c';
const K_CONN_DATA: u8 = b'n';
const K_CONN_CLOSE: u8 = b'x';
const K_STDIN: u8 = b'I';

impl Msg {
    /// The frame bytes of this message.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W(Vec::new());
        let kind = match self {
            Msg::Spec(s) => {
                w.u32(s.argv.len() as u32);
                for a in &s.argv {
                    w.str(a);
                }
                w.u32(s.env.len() as u32);
                for (k, v) in &s.env {
                    w.str(k);
                    w.str(v);
                }
                w.str(&s.cwd);
                match &s.output_dir {
                    Some(d) => {
                        w.u8(1);
                        w.str(d);
                    }
                    None => w.u8(0),
                }
                w.u64(s.output_files_limit);
                w.u32(s.uid);
                w.u64(s.pids);
                w.u64(s.tmp_bytes);
                match s.proxy_port {
                    Some(p) => {
                        w.u8(1);
                        w.u32(u32::from(p));
                    }
                    None => w.u8(0),
                }
                w.u8(u8::from(s.stdin));
                K_SPEC
            }
            Msg::Hello { uptime_ms } => {
                w.u64(*uptime_ms);
                K_HELLO
            }
            Msg::Started { uptime_ms } => {
                w.u64(*uptime_ms);
                K_STARTED
            }
            Msg::Stdout(b) => {
                w.0.extend_from_slice(b);
                K_STDOUT
            }
            Msg::Stderr(b) => {
                w.0.extend_from_slice(b);
                K_STDERR
            }
            Msg::Denial { kind, detail } => {
                w.str(kind);
                w.str(detail);
                K_DENIAL
            }
            Msg::Exit(e) => {
                match e {
                    GuestExit::Code(c) => {
                        w.u8(0);
                        w.u32(*c as u32);
                    }
                    GuestExit::Signal(s) => {
                        w.u8(1);
                        w.u32(*s as u32);
                    }
                    GuestExit::OutOfMemory => {
                        w.u8(2);
                        w.u32(0);
                    }
                }
                K_EXIT
            }
            Msg::Dir { path } => {
                w.str(path);
                K_DIR
            }
            Msg::File {
                path,
                mode,
                offset,
                data,
            } => {
                w.str(path);
                w.u32(*mode);
                w.u64(*offset);
                w.bytes(data);
                K_FILE
            }
            Msg::Skipped { path, reason } => {
                w.str(path);
                w.str(reason);
                K_SKIPPED
            }
            Msg::Log(s) => {
                w.str(s);
                K_LOG
            }
            Msg::Done => K_DONE,
            Msg::ConnOpen { id } => {
                w.u32(*id);
                K_CONN_OPEN
            }
            Msg::ConnData { id, data } => {
                w.u32(*id);
                w.bytes(data);
                K_CONN_DATA
            }
            Msg::ConnClose { id } => {
                w.u32(*id);
                K_CONN_CLOSE
            }
            Msg::Stdin(b) => {
                w.0.extend_from_slice(b);
                K_STDIN
            }
        };
        let mut out = Vec::with_capacity(5 + w.0.len());
        out.push(kind);
        out.extend_from_slice(&(w.0.len() as u32).to_le_bytes());
        out.extend_from_slice(&w.0);
        out
    }

    /// Parses one payload of the given kind.
    pub fn decode(kind: u8, payload: &[u8]) -> Result<Msg, ProtoError> {
        let mut r = R { b: payload, kind };
        let msg = match kind {
            K_SPEC => {
                let n = r.u32()? as usize;
                let mut argv = Vec::new();
                for _ in 0..n.min(65536) {
                    argv.push(r.str()?);
                }
                let n = r.u32()? as usize;
                let mut env = Vec::new();
                for _ in 0..n.min(65536) {
                    let k = r.str()?;
                    let v = r.str()?;
                    env.push((k, v));
                }
                let cwd = r.str()?;
                let output_dir = if r.u8()? == 1 { Some(r.str()?) } else { None };
                let output_files_limit = r.u64()?;
                let uid = r.u32()?;
                let pids = r.u64()?;
                let tmp_bytes = r.u64()?;
                let proxy_port = if r.u8()? == 1 {
                    Some(r.u32()? as u16)
                } else {
                    None
                };
                let stdin = r.u8()? == 1;
                Msg::Spec(Spec {
                    argv,
                    env,
                    cwd,
                    output_dir,
                    output_files_limit,
                    uid,
                    pids,
                    tmp_bytes,
                    proxy_port,
                    stdin,
                })
            }
            K_HELLO => Msg::Hello {
                uptime_ms: r.u64()?,
            },
            K_STARTED => Msg::Started {
                uptime_ms: r.u64()?,
            },
            K_STDOUT => Msg::Stdout(r.take(payload.len())?.to_vec()),
            K_STDERR => Msg::Stderr(r.take(payload.len())?.to_vec()),
            K_DENIAL => Msg::Denial {
                kind: r.str()?,
                detail: r.str()?,
            },
            K_EXIT => {
                let tag = r.u8()?;
                let v = r.u32()? as i32;
                Msg::Exit(match tag {
                    0 => GuestExit::Code(v),
                    1 => GuestExit::Signal(v),
                    2 => GuestExit::OutOfMemory,
                    _ => return Err(ProtoError::BadPayload(kind)),
                })
            }
            K_DIR => Msg::Dir { path: r.str()? },
            K_FILE => Msg::File {
                path: r.str()?,
                mode: r.u32()?,
                offset: r.u64()?,
                data: r.bytes()?,
            },
            K_SKIPPED => Msg::Skipped {
                path: r.str()?,
                reason: r.str()?,
            },
            K_LOG => Msg::Log(r.str()?),
            K_DONE => Msg::Done,
            K_CONN_OPEN => Msg::ConnOpen { id: r.u32()? },
            K_CONN_DATA => Msg::ConnData {
                id: r.u32()?,
                data: r.bytes()?,
            },
            K_CONN_CLOSE => Msg::ConnClose { id: r.u32()? },
            K_STDIN => Msg::Stdin(r.take(payload.len())?.to_vec()),
            other => return Err(ProtoError::UnknownKind(other)),
        };
        r.end()?;
        Ok(msg)
    }
}

/// Splits a byte stream into messages.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the channel.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    pub fn next_msg(&mut self) -> Result<Option<Msg>, ProtoError> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let kind = self.buf[0];
        let len = u32::from_le_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX_FRAME {
            return Err(ProtoError::TooLarge(len));
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        let msg = Msg::decode(kind, &self.buf[5..5 + len]);
        self.buf.drain(..5 + len);
        msg.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(m: Msg) {
        let mut d = Decoder::new();
        let bytes = m.encode();
        // Byte by byte: the decoder must cope with any split of the stream.
        for b in &bytes {
            assert_eq!(d.next_msg().unwrap(), None);
            d.push(std::slice::from_ref(b));
        }
        assert_eq!(d.next_msg().unwrap(), Some(m));
        assert_eq!(d.next_msg().unwrap(), None);
    }

    #[test]
    fn every_message_roundtrips() {
        roundtrip(Msg::Spec(Spec {
            argv: vec!["python3".into(), "a b.py".into()],
            env: vec![("PATH".into(), "/usr/bin".into())],
            cwd: "/code".into(),
            output_dir: Some("/tmp/out".into()),
            output_files_limit: 1 << 30,
            uid: 1000,
            pids: 64,
            tmp_bytes: 64 << 20,
            proxy_port: Some(3128),
            stdin: true,
        }));
        roundtrip(Msg::Stdin(b"line\n".to_vec()));
        roundtrip(Msg::Stdin(vec![]));
        roundtrip(Msg::ConnOpen { id: 7 });
        roundtrip(Msg::ConnData {
            id: 7,
            data: b"CONNECT x:443".to_vec(),
        });
        roundtrip(Msg::ConnClose { id: 7 });
        roundtrip(Msg::Spec(Spec::default()));
        roundtrip(Msg::Hello { uptime_ms: 12 });
        roundtrip(Msg::Started { uptime_ms: 3400 });
        roundtrip(Msg::Stdout(b"hi\n\0\xff".to_vec()));
        roundtrip(Msg::Stderr(vec![]));
        roundtrip(Msg::Denial {
            kind: "file".into(),
            detail: "open /etc/passwd".into(),
        });
        roundtrip(Msg::Exit(GuestExit::Code(-1)));
        roundtrip(Msg::Exit(GuestExit::Signal(9)));
        roundtrip(Msg::Exit(GuestExit::OutOfMemory));
        roundtrip(Msg::Dir { path: "a/b".into() });
        roundtrip(Msg::File {
            path: "a/b/c.txt".into(),
            mode: 0o644,
            offset: 7,
            data: vec![1, 2, 3],
        });
        roundtrip(Msg::Skipped {
            path: "link".into(),
            reason: "symlink".into(),
        });
        roundtrip(Msg::Log("x".into()));
        roundtrip(Msg::Done);
    }

    #[test]
    fn oversized_frame_is_refused_before_allocation() {
        let mut d = Decoder::new();
        d.push(&[b'O', 0xff, 0xff, 0xff, 0x7f]);
        assert!(matches!(d.next_msg(), Err(ProtoError::TooLarge(_))));
    }

    #[test]
    fn truncated_and_trailing_payloads_are_errors() {
        assert_eq!(
            Msg::decode(K_HELLO, &[1, 2, 3]),
            Err(ProtoError::BadPayload(K_HELLO))
        );
        assert_eq!(
            Msg::decode(K_HELLO, &[0; 9]),
            Err(ProtoError::BadPayload(K_HELLO))
        );
        assert_eq!(Msg::decode(b'?', &[]), Err(ProtoError::UnknownKind(b'?')));
        // A string length pointing past the end.
        assert_eq!(
            Msg::decode(K_LOG, &[9, 0, 0, 0, b'a']),
            Err(ProtoError::BadPayload(K_LOG))
        );
    }
}
