//! Text layer of a PDF with page and line numbers, rebuilt from the content streams with `lopdf`.
//!
//! A *page* is the physical page index in the page tree, 1-based. A *line* is a maximal run of
//! text drawn by consecutive text-showing operators, in content-stream order, whose baseline
//! stays within half the font size (the larger of the line's first text and the current text) of
//! the line's first baseline, so superscripts and subscripts stay on their line (never less than
//! [`BASELINE_TOLERANCE`]). Lines holding only white space are dropped and the rest are numbered
//! from 1 on each page. Text placed on the same baseline after a horizontal move is joined with
//! one space (none before closing punctuation); white space runs collapse to one space and
//! typographic ligatures are spelled out (`ﬁ` → `fi`). Text of Form XObjects is read where the
//! form is drawn (nested up to 8 deep). Rotated text and text drawn through transformed
//! coordinate systems (`cm`) are read in stream order without reordering; scanned pages have no
//! text layer and yield no lines.

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Document, Encoding, Object, Stream, dictionary};
use std::collections::BTreeMap;

use super::DocError;

/// Two text positions whose baselines differ by at most this (text-space units) are one line.
pub const BASELINE_TOLERANCE: f64 = 1.0;
/// Largest decompressed content of one page (64 MiB): bounds what a small "zip bomb" stream may
/// inflate to.
pub const MAX_PAGE_CONTENT: usize = 64 << 20;

/// Name and version of this extractor, recorded with each document.
pub const EXTRACTOR: &str = "cutufato-pdf-lines";
/// Version of the line rules above, with the lopdf release it runs on.
pub const EXTRACTOR_VERSION: &str = "1.0.0+lopdf-0.47";

fn num(o: &Object) -> f64 {
    match o {
        Object::Integer(i) => *i as f64,
        Object::Real(r) => f64::from(*r),
        _ => 0.0,
    }
}

struct Lines {
    lines: Vec<String>,
    current: String,
    baseline: Option<f64>,
    /// A horizontal move happened on the current baseline since the last text was shown.
    moved: bool,
    /// Font size (on the page) of the current line's first text.
    line_size: f64,
}

impl Lines {
    /// Shows `text` at baseline `y` in a font `size` units high on the page.
    fn show(&mut self, y: f64, size: f64, text: &str) {
        let tolerance = (0.5 * size.max(self.line_size)).max(BASELINE_TOLERANCE);
        let same = self.baseline.is_some_and(|b| (b - y).abs() <= tolerance);
        if !same {
            self.flush();
            self.baseline = Some(y);
            self.line_size = size;
        } else if self.moved
            && !self.current.ends_with(' ')
            && !text.starts_with([' ', ',', '.', ';', ':', ')', ']', '!', '?'])
        {
            self.current.push(' ');
        }
        self.moved = false;
        self.current.push_str(text);
    }
    fn flush(&mut self) {
        let line = self
            .current
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !line.is_empty() {
            self.lines.push(unligature(&line));
        }
        self.current.clear();
    }
}

/// Typographic ligatures (`ﬁ`, `ﬂ`, …) spelled out, so `speciﬁcation` reads `specification`.
fn unligature(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            c => out.push(c),
        }
    }
    out
}

fn decode(encoding: Option<&Encoding>, operands: &[Object], out: &mut String) {
    for o in operands {
        match o {
            Object::String(bytes, _) => match encoding {
                Some(e) => {
                    if let Ok(s) = Document::decode_text(e, bytes) {
                        out.push_str(&s);
                    }
                }
                None => out.push_str(&String::from_utf8_lossy(bytes)),
            },
            Object::Array(items) => decode(encoding, items, out),
            // A large negative kerning inside TJ is a word gap.
            Object::Integer(_) | Object::Real(_) if num(o) < -200.0 => out.push(' '),
            _ => {}
        }
    }
}

/// Text state carried through a content stream: enough for baselines.
#[derive(Clone, Copy)]
struct TextState {
    /// Text line matrix origin (x, y) and its x/y scale.
    lx: f64,
    ly: f64,
    sx: f64,
    sy: f64,
    leading: f64,
    font_size: f64,
}

impl TextState {
    fn new() -> Self {
        TextState {
            lx: 0.0,
            ly: 0.0,
            sx: 1.0,
            sy: 1.0,
            leading: 0.0,
            font_size: 0.0,
        }
    }
}

/// Form XObjects nested deeper than this are not read (a malicious file could nest forever).
const MAX_FORM_DEPTH: u32 = 8;

/// The font encodings of a resource dictionary.
fn encodings_of<'d>(
    doc: &'d Document,
    resources: Option<&'d Dictionary>,
) -> BTreeMap<Vec<u8>, Encoding<'d>> {
    let Some(fonts) = resources.and_then(|r| doc.get_dict_in_dict(r, b"Font").ok()) else {
        return BTreeMap::new();
    };
    fonts
        .iter()
        .filter_map(|(name, obj)| {
            let font = match obj {
                Object::Reference(id) => doc.get_dictionary(*id).ok()?,
                Object::Dictionary(d) => d,
                _ => return None,
            };
            font.get_font_encoding_with_limit(doc, MAX_PAGE_CONTENT)
                .ok()
                .map(|e| (name.clone(), e))
        })
        .collect()
}

/// Walks the operators of one content stream (a page or a Form XObject), adding its text to `out`.
fn walk<'d>(
    doc: &'d Document,
    ops: &[Operation],
    encodings: &BTreeMap<Vec<u8>, Encoding<'d>>,
    resources: Option<&'d Dictionary>,
    out: &mut Lines,
    depth: u32,
) {
    let mut t = TextState::new();
    let mut encoding: Option<&Encoding> = None;
    for op in ops {
        let o = &op.operands;
        match op.operator.as_str() {
            "BT" => {
                (t.lx, t.ly, t.sx, t.sy) = (0.0, 0.0, 1.0, 1.0);
            }
            "Tf" => {
                t.font_size = o.get(1).map(num).unwrap_or(0.0);
                encoding = o
                    .first()
                    .and_then(|n| n.as_name().ok())
                    .and_then(|n| encodings.get(n));
            }
            "TL" => t.leading = o.first().map(num).unwrap_or(0.0),
            "Tm" if o.len() == 6 => {
                let (nx, ny) = (num(&o[4]), num(&o[5]));
                if (ny - t.ly).abs() <= BASELINE_TOLERANCE && nx != t.lx {
                    out.moved = true;
                }
                (t.sx, t.sy, t.lx, t.ly) = (num(&o[0]), num(&o[3]), nx, ny);
            }
            "Td" | "TD" if o.len() == 2 => {
                let (tx, ty) = (num(&o[0]), num(&o[1]));
                if op.operator == "TD" {
                    t.leading = -ty;
                }
                t.lx += tx * t.sx;
                t.ly += ty * if t.sy == 0.0 { 1.0 } else { t.sy };
                if ty == 0.0 && tx != 0.0 {
                    out.moved = true;
                }
            }
            "T*" => t.ly -= t.leading * t.sy,
            "Tj" | "TJ" | "'" | "\"" => {
                if op.operator != "Tj" && op.operator != "TJ" {
                    t.ly -= t.leading * t.sy;
                }
                let shown = if op.operator == "\"" {
                    o.get(2..).unwrap_or(&[])
                } else {
                    &o[..]
                };
                let mut s = String::new();
                decode(encoding, shown, &mut s);
                out.show(t.ly, (t.font_size * t.sy).abs(), &s);
            }
            "Do" if depth < MAX_FORM_DEPTH => {
                let form = o
                    .first()
                    .and_then(|n| n.as_name().ok())
                    .zip(resources.and_then(|r| doc.get_dict_in_dict(r, b"XObject").ok()))
                    .and_then(|(name, xobjects)| xobjects.get(name).ok())
                    .and_then(|obj| obj.as_reference().ok())
                    .and_then(|id| doc.get_object(id).ok())
                    .and_then(|obj| obj.as_stream().ok())
                    .filter(|st| {
                        st.dict
                            .get(b"Subtype")
                            .and_then(|v| v.as_name())
                            .is_ok_and(|n| n == b"Form")
                    });
                let Some(stream) = form else { continue };
                let data = if stream.dict.has(b"Filter") {
                    match stream.decompressed_content_with_limit(MAX_PAGE_CONTENT) {
                        Ok(d) => d,
                        Err(_) => continue,
                    }
                } else {
                    stream.content.clone()
                };
                let Ok(content) = Content::decode(&data) else {
                    continue;
                };
                // A form without resources uses its parent's.
                let own = doc.get_dict_in_dict(&stream.dict, b"Resources").ok();
                let form_resources = own.or(resources);
                let form_encodings = if own.is_some() {
                    encodings_of(doc, form_resources)
                } else {
                    BTreeMap::new()
                };
                let encs = if own.is_some() {
                    &form_encodings
                } else {
                    encodings
                };
                walk(
                    doc,
                    &content.operations,
                    encs,
                    form_resources,
                    out,
                    depth + 1,
                );
            }
            _ => {}
        }
    }
}

/// The lines of each page of the PDF in `bytes`.
pub fn extract(bytes: &[u8]) -> Result<Vec<Vec<String>>, DocError> {
    let doc = Document::load_mem(bytes).map_err(|e| DocError::Pdf(e.to_string()))?;
    if doc.is_encrypted() {
        return Err(DocError::Pdf(
            "the PDF is encrypted: decrypt it first (for example `qpdf --decrypt in.pdf out.pdf`)"
                .into(),
        ));
    }
    let mut pages = Vec::new();
    for (number, page_id) in doc.get_pages() {
        let fonts = doc
            .get_page_fonts(page_id)
            .map_err(|e| DocError::Pdf(format!("page {number}: {e}")))?;
        let encodings: BTreeMap<Vec<u8>, Encoding> = fonts
            .into_iter()
            .filter_map(|(name, font)| {
                font.get_font_encoding_with_limit(&doc, MAX_PAGE_CONTENT)
                    .ok()
                    .map(|e| (name, e))
            })
            .collect();
        let data = doc
            .get_page_content_with_limit(page_id, MAX_PAGE_CONTENT)
            .map_err(|e| DocError::Pdf(format!("page {number}: {e}")))?;
        let content =
            Content::decode(&data).map_err(|e| DocError::Pdf(format!("page {number}: {e}")))?;
        let resources = match doc.get_page_resources(page_id) {
            Ok((Some(dict), _)) => Some(dict),
            Ok((None, ids)) => ids.first().and_then(|id| doc.get_dictionary(*id).ok()),
            Err(_) => None,
        };
        let mut out = Lines {
            lines: Vec::new(),
            current: String::new(),
            baseline: None,
            moved: false,
            line_size: 0.0,
        };
        walk(
            &doc,
            &content.operations,
            &encodings,
            resources,
            &mut out,
            0,
        );
        out.flush();
        pages.push(out.lines);
    }
    Ok(pages)
}

/// Writes a simple PDF with one text line per entry of each page (Helvetica 11 pt, 14 pt apart,
/// from the top of an A4 page), for tests and demos. Lines are given as Latin-1 text.
pub fn text_pdf<S: AsRef<str>>(pages: &[Vec<S>]) -> Result<Vec<u8>, DocError> {
    let ops = pages
        .iter()
        .map(|lines| {
            let mut ops = vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 11.into()]),
                Operation::new("TL", vec![14.into()]),
                Operation::new("Td", vec![56.into(), 790.into()]),
            ];
            for l in lines {
                ops.push(Operation::new(
                    "Tj",
                    vec![Object::string_literal(l.as_ref())],
                ));
                ops.push(Operation::new("T*", vec![]));
            }
            ops.push(Operation::new("ET", vec![]));
            ops
        })
        .collect();
    build(ops)
}

/// A PDF whose page `i` draws `pages_ops[i]` with font F1 (Helvetica, WinAnsi).
fn build(pages_ops: Vec<Vec<Operation>>) -> Result<Vec<u8>, DocError> {
    let err = |e: lopdf::Error| DocError::Pdf(e.to_string());
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    for ops in pages_ops {
        let content = Content { operations: ops };
        let content_id =
            doc.add_object(Stream::new(dictionary! {}, content.encode().map_err(err)?));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| DocError::Pdf(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdf(pages_ops: Vec<Vec<Operation>>) -> Vec<u8> {
        build(pages_ops).unwrap()
    }

    #[test]
    fn text_pdf_round_trips_its_lines() {
        let pages = vec![
            vec!["one".to_string(), "two words".to_string()],
            vec!["three".to_string()],
        ];
        assert_eq!(extract(&text_pdf(&pages).unwrap()).unwrap(), pages);
    }

    fn op(name: &str, operands: Vec<Object>) -> Operation {
        Operation::new(name, operands)
    }

    #[test]
    fn lines_follow_baselines_with_td_tstar_tm_and_split_shows() {
        let s = |t: &str| Object::string_literal(t);
        let page1 = vec![
            op("BT", vec![]),
            op("Tf", vec!["F1".into(), 12.into()]),
            op("Td", vec![72.into(), 750.into()]),
            op("Tj", vec![s("First line")]),
            op("Td", vec![0.into(), (-14).into()]),
            op("Tj", vec![s("Second")]),
            op("Td", vec![60.into(), 0.into()]),
            op("Tj", vec![s("half")]),
            op("TL", vec![14.into()]),
            op("T*", vec![]),
            op(
                "TJ",
                vec![Object::Array(vec![s("Kerned"), (-300).into(), s("words")])],
            ),
            op("ET", vec![]),
        ];
        let page2 = vec![
            op("BT", vec![]),
            op("Tf", vec!["F1".into(), 10.into()]),
            op(
                "Tm",
                vec![
                    1.into(),
                    0.into(),
                    0.into(),
                    1.into(),
                    72.into(),
                    700.into(),
                ],
            ),
            op("Tj", vec![s("Page two, line one")]),
            op(
                "Tm",
                vec![
                    1.into(),
                    0.into(),
                    0.into(),
                    1.into(),
                    72.into(),
                    686.into(),
                ],
            ),
            op("Tj", vec![s("   ")]),
            op(
                "Tm",
                vec![
                    1.into(),
                    0.into(),
                    0.into(),
                    1.into(),
                    72.into(),
                    672.into(),
                ],
            ),
            op("Tj", vec![s("The contract expires on 2025-12-31.")]),
            op("ET", vec![]),
        ];
        let pages = extract(&pdf(vec![page1, page2])).unwrap();
        assert_eq!(pages[0], vec!["First line", "Second half", "Kerned words"]);
        assert_eq!(
            pages[1],
            vec!["Page two, line one", "The contract expires on 2025-12-31."]
        );
    }

    #[test]
    fn superscripts_stay_on_their_line_and_punctuation_gets_no_space() {
        let s = |t: &str| Object::string_literal(t);
        let page = vec![
            op("BT", vec![]),
            op("Tf", vec!["F1".into(), 10.into()]),
            op("Td", vec![72.into(), 700.into()]),
            op("Tj", vec![s("E = mc")]),
            op("Tf", vec!["F1".into(), 6.into()]),
            op("Td", vec![40.into(), 4.into()]),
            op("Tj", vec![s("2")]),
            op("Tf", vec!["F1".into(), 10.into()]),
            op("Td", vec![4.into(), (-4).into()]),
            op("Tj", vec![s(" holds")]),
            op("Td", vec![30.into(), 0.into()]),
            op("Tj", vec![s(", they say")]),
            op("Td", vec![(-74).into(), (-12).into()]),
            op("Tj", vec![s("next line")]),
            op("ET", vec![]),
        ];
        assert_eq!(
            extract(&pdf(vec![page])).unwrap()[0],
            vec!["E = mc2 holds, they say", "next line"]
        );
    }

    #[test]
    fn text_inside_form_xobjects_is_read_in_place() {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
        });
        let form_ops = Content {
            operations: vec![
                op("BT", vec![]),
                op("Tf", vec!["F1".into(), 12.into()]),
                op("Td", vec![72.into(), 650.into()]),
                op("Tj", vec![Object::string_literal("Stamped inside a form")]),
                op("ET", vec![]),
            ],
        };
        let form_id = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Form",
                "BBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
            },
            form_ops.encode().unwrap(),
        ));
        let page_ops = Content {
            operations: vec![
                op("BT", vec![]),
                op("Tf", vec!["F1".into(), 12.into()]),
                op("Td", vec![72.into(), 700.into()]),
                op("Tj", vec![Object::string_literal("Before the form")]),
                op("ET", vec![]),
                op("q", vec![]),
                op("Do", vec!["X1".into()]),
                op("Q", vec![]),
                op("BT", vec![]),
                op("Tf", vec!["F1".into(), 12.into()]),
                op("Td", vec![72.into(), 600.into()]),
                op("Tj", vec![Object::string_literal("After the form")]),
                op("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, page_ops.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
            "Resources" => dictionary! {
                "Font" => dictionary! { "F1" => font_id },
                "XObject" => dictionary! { "X1" => form_id },
            },
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        assert_eq!(
            extract(&bytes).unwrap()[0],
            vec!["Before the form", "Stamped inside a form", "After the form"]
        );
    }

    #[test]
    fn garbage_is_a_pdf_error() {
        assert!(matches!(
            extract(b"%PDF-1.5\nnot really"),
            Err(DocError::Pdf(_))
        ));
    }
}
