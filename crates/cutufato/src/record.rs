//! The record schema: what a caller hands to [`crate::Auditor::record`] ([`Decision`]) and what
//! is signed and committed as a Merkle leaf ([`Entry`]).
//!
//! A leaf is the RFC 8785 canonical JSON of an [`Entry`]. Its `signature` is Ed25519 over the
//! canonical JSON of the same object without the `signature` member. Personal data (prompt,
//! response, chunk texts, attribution details) never enters a leaf: the leaf holds keyed hashes
//! (`hmac-sha256:` with a per-subject key) and the text lives in the erasable content store.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Version of the leaf schema, carried in every leaf as `v`.
pub const SCHEMA_VERSION: u32 = 1;

/// Errors of canonical JSON and record signatures.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("record is not in canonical form (RFC 8785)")]
    NotCanonical,
    #[error("record has no {0} field")]
    MissingField(&'static str),
    #[error("signature is not valid base64 of 64 bytes")]
    BadSignatureEncoding,
}

/// RFC 8785 canonical JSON of any serialisable value.
pub fn canonical<T: Serialize>(v: &T) -> Result<Vec<u8>, RecordError> {
    Ok(serde_json_canonicalizer::to_vec(v)?)
}

/// The model that answered, with its call parameters (temperature, top_p, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub parameters: Map<String, Value>,
}

/// A retrieved context chunk as the caller supplies it (the `--context chunks.json` items).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextChunk {
    pub doc_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_sha256: Option<String>,
    /// 1-based page number in the source document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// 1-based line number on that page (or in the document when it has no pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub text: String,
    /// Retrieval score as the retriever reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// A context chunk as committed in the leaf: the text is replaced by its keyed hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub doc_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub text_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// Who or what judged the response, so a signed verdict can be reproduced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluator {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// One model call to record: the input of [`crate::Auditor::record`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub prompt: String,
    pub context: Vec<ContextChunk>,
    pub response: String,
    pub model: Model,
    /// Who asked (user or service account).
    pub actor: Option<String>,
    pub tenant: Option<String>,
    /// Purpose of processing (GDPR Art. 30, AI Act Art. 12).
    pub purpose: Option<String>,
    /// Data subject whose personal data the prompt/response may hold; `erase --subject` uses it.
    /// Defaults to the actor.
    pub subject: Option<String>,
    pub prompt_template_hash: Option<String>,
    pub policy_version: Option<String>,
    /// Full attribution (sentences, spans, sources); stored in the content store, hashed in the leaf.
    pub attribution: Option<Value>,
    pub attribution_confidence: Option<f64>,
    pub hallucination_detected: Option<bool>,
    pub evaluator: Option<Evaluator>,
    /// A human's review or override of the decision (who, what, why).
    pub human_override: Option<Value>,
    /// The agent session this call belongs to (ties it to the events of the same session).
    pub session: Option<String>,
}

impl Decision {
    /// The minimum: prompt, response and model name.
    pub fn new(
        prompt: impl Into<String>,
        response: impl Into<String>,
        model: impl Into<String>,
    ) -> Self {
        Self {
            prompt: prompt.into(),
            response: response.into(),
            model: Model {
                name: model.into(),
                ..Model::default()
            },
            ..Self::default()
        }
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = Some(purpose.into());
        self
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn context(mut self, chunks: Vec<ContextChunk>) -> Self {
        self.context = chunks;
        self
    }

    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// The data subject the content is keyed to: `subject`, else `actor`, else `"-"`.
    pub fn subject_or_default(&self) -> &str {
        self.subject
            .as_deref()
            .or(self.actor.as_deref())
            .unwrap_or("-")
    }
}

/// A decision as committed in the log (no personal text, only keyed hashes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub execution_id: String,
    pub timestamp: String,
    pub model: Model,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Keyed hash of the data subject (with the log's subject key), for erasure bookkeeping.
    pub subject_ref: String,
    pub prompt_hash: String,
    pub response_hash: String,
    pub context_chunks: Vec<ChunkRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_template_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution_confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hallucination_detected: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator: Option<Evaluator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human_override_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// Something a tool did, recorded next to the model calls of the same session: the input of
/// [`crate::Auditor::record_event`]. A Babuino run is `source: "babuino", action: "run"`; a
/// Sentinel block is `source: "sentinel", action: "block"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The tool that acted: lower-case letters, digits, `-`, `_` or `.`, at most 64 bytes.
    pub source: String,
    /// What it did, same alphabet.
    pub action: String,
    /// Short outcome kept in the leaf (`blocked`, `exit 0`, `timeout`): no personal data here.
    pub outcome: Option<String>,
    /// One line for people; erasable content, hashed in the leaf.
    pub summary: String,
    /// Full detail (a run report, a verdict); erasable content, hashed in the leaf.
    pub data: Value,
    pub session: Option<String>,
    pub actor: Option<String>,
    pub tenant: Option<String>,
    /// Data subject the content is keyed to; defaults to the actor, else `"-"`.
    pub subject: Option<String>,
}

impl Event {
    /// An event of `source` doing `action`, with its summary line and detail.
    pub fn new(
        source: impl Into<String>,
        action: impl Into<String>,
        summary: impl Into<String>,
        data: Value,
    ) -> Self {
        Self {
            source: source.into(),
            action: action.into(),
            summary: summary.into(),
            data,
            ..Self::default()
        }
    }

    pub fn outcome(mut self, outcome: impl Into<String>) -> Self {
        self.outcome = Some(outcome.into());
        self
    }

    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// The data subject the content is keyed to: `subject`, else `actor`, else `"-"`.
    pub fn subject_or_default(&self) -> &str {
        self.subject
            .as_deref()
            .or(self.actor.as_deref())
            .unwrap_or("-")
    }
}

/// An event as committed in the log: its summary and data are replaced by keyed hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub execution_id: String,
    pub timestamp: String,
    pub source: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub subject_ref: String,
    pub summary_hash: String,
    pub data_hash: String,
}

/// An erasure tombstone: the content of these records was destroyed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasureRecord {
    pub execution_id: String,
    pub timestamp: String,
    pub subject_ref: String,
    /// Execution ids whose content was erased.
    pub erased: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// A key rotation, signed by the old key: from here on the new key signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRotationRecord {
    pub execution_id: String,
    pub timestamp: String,
    /// Verifier key (signed-note format) of the new signing key.
    pub new_key: String,
    pub old_key: String,
}

/// What a leaf says, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[allow(clippy::large_enum_variant)] // decisions are the common case; boxing them buys nothing
pub enum Body {
    Decision(DecisionRecord),
    Erasure(ErasureRecord),
    KeyRotation(KeyRotationRecord),
    Event(EventRecord),
}

impl Body {
    pub fn execution_id(&self) -> &str {
        match self {
            Body::Decision(d) => &d.execution_id,
            Body::Erasure(e) => &e.execution_id,
            Body::KeyRotation(k) => &k.execution_id,
            Body::Event(e) => &e.execution_id,
        }
    }
    pub fn timestamp(&self) -> &str {
        match self {
            Body::Decision(d) => &d.timestamp,
            Body::Erasure(e) => &e.timestamp,
            Body::KeyRotation(k) => &k.timestamp,
            Body::Event(e) => &e.timestamp,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Decision(_) => "decision",
            Body::Erasure(_) => "erasure",
            Body::KeyRotation(_) => "key-rotation",
            Body::Event(_) => "event",
        }
    }
}

/// A signed leaf of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// The log's origin (checkpoint origin line).
    pub origin: String,
    /// Position of this leaf in the log (0-based).
    pub log_index: u64,
    #[serde(flatten)]
    pub body: Body,
    /// Signed-note key id (8 hex digits) of the signing key.
    pub key_id: String,
    /// Base64 Ed25519 signature over the canonical JSON of the entry without `signature`.
    #[serde(default)]
    pub signature: String,
}

/// Bytes that are signed: canonical JSON of the leaf object without its `signature` member.
pub fn signing_bytes(leaf: &Value) -> Result<Vec<u8>, RecordError> {
    let mut obj = leaf
        .as_object()
        .cloned()
        .ok_or(RecordError::MissingField("object"))?;
    obj.remove("signature");
    canonical(&obj)
}

/// Parses stored leaf bytes and checks they are canonical: returns the JSON value and entry.
pub fn parse_leaf(bytes: &[u8]) -> Result<(Value, Entry), RecordError> {
    let value: Value = serde_json::from_slice(bytes)?;
    if canonical(&value)? != bytes {
        return Err(RecordError::NotCanonical);
    }
    let entry: Entry = serde_json::from_value(value.clone())?;
    Ok((value, entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8785 §3.2.2 / Appendix B examples, numbers included.
    #[test]
    fn canonical_json_matches_rfc8785_examples() {
        let input = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
        let v: Value = serde_json::from_str(input).unwrap();
        let got = String::from_utf8(canonical(&v).unwrap()).unwrap();
        let want = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
        assert_eq!(got, want);
        // Appendix B number serialisations.
        for (bits, want) in [
            (0x0000000000000000u64, "0"),
            (0x0000000000000001, "5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x4415af1d78b58c40, "100000000000000000000"),
        ] {
            let got = String::from_utf8(canonical(&f64::from_bits(bits)).unwrap()).unwrap();
            assert_eq!(got, want, "number {bits:016x}");
        }
        // Keys sort by UTF-16 code units.
        let v: Value = serde_json::from_str(
            r#"{"\u20ac":1,"\r":2,"\ud83d\ude00":3,"1":4,"\u0080":5,"\u00f6":6}"#,
        )
        .unwrap();
        let got = String::from_utf8(canonical(&v).unwrap()).unwrap();
        assert_eq!(
            got,
            "{\"\\r\":2,\"1\":4,\"\u{80}\":5,\"ö\":6,\"€\":1,\"😀\":3}"
        );
    }

    #[test]
    fn leaf_roundtrip_is_canonical_and_rejects_reformatting() {
        let e = Entry {
            v: SCHEMA_VERSION,
            origin: "o".into(),
            log_index: 3,
            body: Body::Erasure(ErasureRecord {
                execution_id: "erase-1".into(),
                timestamp: "2026-01-01T00:00:00.000000Z".into(),
                subject_ref: "hmac-sha256:00".into(),
                erased: vec!["exec-1".into()],
                reason: None,
                actor: None,
            }),
            key_id: "01020304".into(),
            signature: "sig".into(),
        };
        let bytes = canonical(&e).unwrap();
        let (_, back) = parse_leaf(&bytes).unwrap();
        assert_eq!(back, e);
        let pretty = serde_json::to_vec_pretty(&e).unwrap();
        assert!(matches!(
            parse_leaf(&pretty),
            Err(RecordError::NotCanonical)
        ));
    }
}
