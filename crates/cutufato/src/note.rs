//! C2SP `signed-note` with Ed25519 keys and `tlog-checkpoint` bodies, byte-compatible with
//! `golang.org/x/mod/sumdb/note`: a verifier key `name+hex(id)+base64(0x01 || public key)`, a
//! private key `PRIVATE+KEY+name+hex(id)+base64(0x01 || seed)`, signature lines
//! `— name base64(id || signature)` after a blank line, id = `SHA-256(name || 0x0A || 0x01 || pk)[:4]`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

const ALG_ED25519: u8 = 1;

/// Errors of keys, notes and checkpoints.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    #[error("invalid key name {0:?}: it must be non-empty, without spaces or '+'")]
    BadName(String),
    #[error("malformed verifier key: {0}")]
    BadVerifierKey(String),
    #[error("malformed signing key: {0}")]
    BadSigningKey(String),
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("no signature by a trusted key on the note")]
    Unverified,
    #[error("signature by {name} (key id {id:08x}) does not verify")]
    BadSignature { name: String, id: u32 },
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(String),
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::BadName(name.to_owned()));
    }
    Ok(())
}

/// Key id of the signed-note spec.
pub fn key_id(name: &str, public: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A public key that checks signatures of one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub name: String,
    pub id: u32,
    pub key: VerifyingKey,
}

impl Verifier {
    /// Parses `name+hex+base64`.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        let s = s.trim();
        let bad = |m: &str| NoteError::BadVerifierKey(m.to_owned());
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(hexid), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected name+keyid+base64"));
        };
        check_name(name)?;
        let id = u32::from_str_radix(hexid, 16).map_err(|_| bad("key id is not 8 hex digits"))?;
        if hexid.len() != 8 {
            return Err(bad("key id is not 8 hex digits"));
        }
        let raw = B64.decode(b64).map_err(|_| bad("key is not base64"))?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(bad(
                "not an Ed25519 key (expected 0x01 followed by 32 bytes)",
            ));
        }
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&raw[1..]);
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| bad("invalid Ed25519 public key"))?;
        if key_id(name, &key) != id {
            return Err(bad("key id does not match the name and key"));
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// Key id as 8 lower-case hex digits.
    pub fn id_hex(&self) -> String {
        format!("{:08x}", self.id)
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

/// A named Ed25519 signing key.
pub struct Signer {
    pub name: String,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({}+{:08x})", self.name, self.id())
    }
}

impl Signer {
    /// A fresh key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    /// Parses `PRIVATE+KEY+name+hex+base64(0x01 || seed)`.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        let bad = |m: &str| NoteError::BadSigningKey(m.to_owned());
        let rest = s
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("missing PRIVATE+KEY+ prefix"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hexid), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected PRIVATE+KEY+name+keyid+base64"));
        };
        check_name(name)?;
        let raw = B64.decode(b64).map_err(|_| bad("key is not base64"))?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(bad("not an Ed25519 key"));
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&raw[1..]);
        let signer = Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        };
        if format!("{:08x}", signer.id()) != hexid {
            return Err(bad("key id does not match the name and key"));
        }
        Ok(signer)
    }

    /// The private key in the Go `note` format (keep it secret).
    pub fn to_private_string(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id(),
            B64.encode(raw)
        )
    }

    pub fn id(&self) -> u32 {
        key_id(&self.name, &self.key.verifying_key())
    }

    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            id: self.id(),
            key: self.key.verifying_key(),
        }
    }

    /// Raw Ed25519 signature of `msg`.
    pub fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// Signs `text` (which must end in a newline) as a signed note.
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::Malformed(
                "note text must end with a newline".into(),
            ));
        }
        if text.chars().any(|c| c < ' ' && c != '\n') || text.contains("\n\n") {
            return Err(NoteError::Malformed(
                "note text has control characters or a blank line".into(),
            ));
        }
        let sig = self.sign_raw(text.as_bytes());
        let mut blob = self.id().to_be_bytes().to_vec();
        blob.extend_from_slice(&sig);
        Ok(format!(
            "{text}\n\u{2014} {} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

/// Checks a raw Ed25519 signature.
pub fn verify_raw(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = Signature::from_slice(sig) else {
        return false;
    };
    key.verify_strict(msg, &sig).is_ok()
}

/// A note whose signature by a trusted key verified.
#[derive(Debug, Clone)]
pub struct OpenedNote {
    pub text: String,
    /// Verifiers (from the trusted set) whose signatures verified.
    pub signed_by: Vec<Verifier>,
}

/// Opens a signed note: at least one signature must come from `trusted` and every signature by a
/// trusted key id must verify (as `note.Open` does).
pub fn open_note(note: &str, trusted: &[Verifier]) -> Result<OpenedNote, NoteError> {
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "signature block must end with a newline".into(),
        ));
    }
    let mut signed_by = Vec::new();
    for line in sigs.lines() {
        let rest = line.strip_prefix("\u{2014} ").ok_or_else(|| {
            NoteError::Malformed(format!("signature line without em dash: {line:?}"))
        })?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| {
            NoteError::Malformed(format!("signature line without key name: {line:?}"))
        })?;
        let blob = B64
            .decode(b64)
            .map_err(|_| NoteError::Malformed(format!("signature is not base64: {line:?}")))?;
        if blob.len() < 5 {
            return Err(NoteError::Malformed("signature too short".into()));
        }
        let id = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]);
        for v in trusted.iter().filter(|v| v.name == name && v.id == id) {
            if !verify_raw(&v.key, text.as_bytes(), &blob[4..]) {
                return Err(NoteError::BadSignature {
                    name: name.to_owned(),
                    id,
                });
            }
            signed_by.push(v.clone());
        }
    }
    if signed_by.is_empty() {
        return Err(NoteError::Unverified);
    }
    Ok(OpenedNote {
        text: text.to_owned(),
        signed_by,
    })
}

/// A `tlog-checkpoint` body: origin, tree size and root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint body (extension lines after the root are allowed and ignored).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = |m: &str| NoteError::BadCheckpoint(m.to_owned());
        let mut lines = text.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("missing origin line"))?;
        let size_s = lines.next().ok_or_else(|| bad("missing size line"))?;
        if size_s.is_empty()
            || !size_s.bytes().all(|b| b.is_ascii_digit())
            || (size_s.len() > 1 && size_s.starts_with('0'))
        {
            return Err(bad("size is not a decimal number"));
        }
        let size = size_s
            .parse()
            .map_err(|_| bad("size is not a decimal number"))?;
        let root_s = lines.next().ok_or_else(|| bad("missing root hash line"))?;
        let root: Hash = B64
            .decode(root_s)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("root hash is not 32 bytes of base64"))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Opens and parses a signed checkpoint, requiring the expected origin when given.
    pub fn open(
        note: &str,
        trusted: &[Verifier],
        origin: Option<&str>,
    ) -> Result<(Self, OpenedNote), NoteError> {
        let opened = open_note(note, trusted)?;
        let cp = Self::parse(&opened.text)?;
        if let Some(o) = origin
            && cp.origin != o
        {
            return Err(NoteError::BadCheckpoint(format!(
                "origin {:?} is not the log's origin {o:?}",
                cp.origin
            )));
        }
        Ok((cp, opened))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_note_example_key_verifies_go_signed_note() {
        // From golang.org/x/mod/sumdb/note's package documentation (example_test.go).
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let msg = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let v = Verifier::parse(vkey).unwrap();
        assert_eq!(v.to_string(), vkey);
        let n = open_note(msg, &[v]).unwrap();
        assert!(n.text.starts_with("If you think"));
        let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let s = Signer::parse(skey).unwrap();
        assert_eq!(s.to_private_string(), skey);
        assert_eq!(s.sign_note(&n.text).unwrap(), msg);
    }

    #[test]
    fn tampered_or_untrusted_notes_are_rejected() {
        let s = Signer::generate("log.example/a").unwrap();
        let other = Signer::generate("log.example/a").unwrap();
        let cp = Checkpoint {
            origin: "log.example/a".into(),
            size: 3,
            root: [7; 32],
        };
        let note = s.sign_note(&cp.body()).unwrap();
        let (got, _) = Checkpoint::open(&note, &[s.verifier()], Some("log.example/a")).unwrap();
        assert_eq!(got, cp);
        assert_eq!(
            open_note(&note, &[other.verifier()]).unwrap_err(),
            NoteError::Unverified
        );
        let edited = note.replacen("\n3\n", "\n4\n", 1);
        assert!(matches!(
            open_note(&edited, &[s.verifier()]),
            Err(NoteError::BadSignature { .. })
        ));
        assert!(Checkpoint::open(&note, &[s.verifier()], Some("other")).is_err());
        assert!(Signer::generate("bad name").is_err());
        assert!(Verifier::parse("x+0000+AAAA").is_err());
    }
}
