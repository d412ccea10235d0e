//! Text primitives of the deterministic tier: sentences with character spans, words, stems,
//! numbers (digits, number words, clock times) and negation cues.
//!
//! Every function here is pure and depends only on its input, so the same response and context
//! always give the same result (a signed verdict must be reproducible).

/// A span of text as byte offsets into the string it was cut from (`text[start..end]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// Splits `text` into sentences: a sentence ends after `.`, `!` or `?` followed by white space
/// (unless the period closes a number such as `3.` in a numbered list, an initial or a short
/// abbreviation), and at every line break. Leading and trailing white space is not part of a span;
/// empty sentences are dropped.
pub fn sentences(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        let next_ws = chars.get(i + 1).is_some_and(|(_, n)| n.is_whitespace());
        let is_break = c == '\n'
            || (matches!(c, '.' | '!' | '?')
                && next_ws
                && !(c == '.' && is_non_final_period(text, start, pos)));
        if is_break {
            let end = if c == '\n' { pos } else { pos + c.len_utf8() };
            push_trimmed(text, start, end, &mut out);
            start = end;
        }
        i += 1;
    }
    push_trimmed(text, start, text.len(), &mut out);
    out
}

/// True when the period at `pos` does not end a sentence: list numbers (`3.`), initials (`J.`) and
/// a few common abbreviations.
fn is_non_final_period(text: &str, sentence_start: usize, pos: usize) -> bool {
    let before = &text[sentence_start..pos];
    let last_word: &str = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    if last_word.is_empty() {
        return false;
    }
    // A numbered list item such as "3." at the start of a sentence.
    if last_word.chars().all(|c| c.is_ascii_digit()) && before.trim() == last_word {
        return true;
    }
    if last_word.chars().count() == 1 && last_word.chars().all(|c| c.is_uppercase()) {
        return true;
    }
    const ABBREV: &[&str] = &[
        "mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "inc", "ltd", "co", "jr", "sr", "no",
        "e.g", "i.e", "u.s", "a.m", "p.m", "approx", "dept", "fig", "jan", "feb", "mar", "apr",
        "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    ];
    let lw = last_word.to_lowercase();
    ABBREV.contains(&lw.as_str())
}

fn push_trimmed(text: &str, start: usize, end: usize, out: &mut Vec<Span>) {
    let piece = &text[start..end];
    let lead = piece.len() - piece.trim_start().len();
    let trail = piece.len() - piece.trim_end().len();
    let (s, e) = (start + lead, end - trail);
    if s < e {
        out.push(Span { start: s, end: e });
    }
}

/// A word of the text: a maximal run of alphanumeric characters, with its byte span.
#[derive(Debug, Clone, Copy)]
pub struct Word<'a> {
    pub text: &'a str,
    pub start: usize,
}

/// The words of `text` (maximal runs of alphanumeric characters).
pub fn words(text: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            out.push(Word {
                text: &text[s..i],
                start: s,
            });
        }
    }
    if let Some(s) = start {
        out.push(Word {
            text: &text[s..],
            start: s,
        });
    }
    out
}

/// Function words, discourse markers (`however`, `overall`) and answer framing (`sure`): they
/// connect or frame claims and claim nothing themselves.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "additionally",
    "after",
    "again",
    "against",
    "all",
    "also",
    "although",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "besides",
    "between",
    "both",
    "but",
    "by",
    "can",
    "certainly",
    "consequently",
    "could",
    "did",
    "do",
    "does",
    "done",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "furthermore",
    "had",
    "has",
    "have",
    "having",
    "he",
    "hence",
    "her",
    "here",
    "his",
    "how",
    "however",
    "i",
    "if",
    "in",
    "indeed",
    "instead",
    "into",
    "is",
    "it",
    "its",
    "just",
    "may",
    "me",
    "meanwhile",
    "might",
    "more",
    "moreover",
    "most",
    "must",
    "my",
    "nevertheless",
    "no",
    "nonetheless",
    "nor",
    "not",
    "of",
    "off",
    "okay",
    "on",
    "once",
    "only",
    "or",
    "other",
    "otherwise",
    "our",
    "out",
    "over",
    "overall",
    "own",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "still",
    "such",
    "sure",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "therefore",
    "these",
    "they",
    "this",
    "those",
    "though",
    "through",
    "thus",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "would",
    "yes",
    "yet",
    "you",
    "your",
];

/// True for a function word (compared in lower case).
pub fn is_stopword(lower: &str) -> bool {
    STOPWORDS.binary_search(&lower).is_ok()
}

/// Number words read as numbers.
const NUMBER_WORDS: &[(&str, f64)] = &[
    ("zero", 0.0),
    ("one", 1.0),
    ("two", 2.0),
    ("three", 3.0),
    ("four", 4.0),
    ("five", 5.0),
    ("six", 6.0),
    ("seven", 7.0),
    ("eight", 8.0),
    ("nine", 9.0),
    ("ten", 10.0),
    ("eleven", 11.0),
    ("twelve", 12.0),
    ("twenty", 20.0),
    ("thirty", 30.0),
    ("forty", 40.0),
    ("fifty", 50.0),
    ("hundred", 100.0),
    ("thousand", 1000.0),
    ("million", 1_000_000.0),
    ("billion", 1_000_000_000.0),
];

/// The value of a number word, if `lower` is one.
pub fn number_word(lower: &str) -> Option<f64> {
    NUMBER_WORDS
        .iter()
        .find(|(w, _)| *w == lower)
        .map(|(_, v)| *v)
}

/// The stem used to compare words: the lower-cased word without a final `s`, `es`, `ed`, `ing` or
/// `ly` (when enough is left), cut to its first five characters. Crude on purpose: it folds most
/// English inflections (`star`/`stars`, `renewal`/`renews`/`renewed`) without a dictionary, and
/// it is fully reproducible.
pub fn stem(word: &str) -> String {
    let lower: String = word.chars().flat_map(char::to_lowercase).collect();
    let n = lower.chars().count();
    let base = if n > 5 && lower.ends_with("ing") {
        &lower[..lower.len() - 3]
    } else if n > 4 && (lower.ends_with("ed") || lower.ends_with("es") || lower.ends_with("ly")) {
        &lower[..lower.len() - 2]
    } else if n > 3
        && lower.ends_with('s')
        && !lower.ends_with("ss")
        && !lower.ends_with("us")
        && !lower.ends_with("is")
    {
        &lower[..lower.len() - 1]
    } else {
        &lower
    };
    base.chars().take(5).collect()
}

/// A content word: not a function word, at least three characters, not starting with a digit.
pub fn is_content(word: &str) -> bool {
    let lower = word.to_lowercase();
    word.chars().count() > 2
        && !word.starts_with(|c: char| c.is_ascii_digit())
        && !is_stopword(&lower)
}

/// A number found in text, with its span and value. Clock times with am/pm are read in 24 hours
/// (`7 pm` is 19), so they compare with `19:00`.
#[derive(Debug, Clone, Copy)]
pub struct Number {
    pub value: f64,
    /// The digits alone, before a scale word (`1.5` of `1.5 million`); equal to `value` otherwise.
    pub raw: f64,
    pub span: Span,
}

/// Scale words after a number written in digits (`1.5 million`, `3bn`, `20k`).
const SCALES: &[(&str, f64)] = &[
    ("thousand", 1e3),
    ("k", 1e3),
    ("million", 1e6),
    ("millions", 1e6),
    ("mn", 1e6),
    ("m", 1e6),
    ("billion", 1e9),
    ("billions", 1e9),
    ("bn", 1e9),
    ("trillion", 1e12),
];

/// The scale word at the start of `rest` (after optional spaces): its multiplier and byte length
/// including the spaces.
fn scale_after(rest: &str) -> Option<(f64, usize)> {
    let trimmed = rest.trim_start_matches(' ');
    let skipped = rest.len() - trimmed.len();
    if skipped > 1 {
        return None;
    }
    let word_len = trimmed
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(trimmed.len());
    let word = trimmed[..word_len].to_ascii_lowercase();
    // A bare `m`/`k` only right after the digits (`20k`, `5m`), never `5 m` (metres).
    if matches!(word.as_str(), "k" | "m") && skipped > 0 {
        return None;
    }
    SCALES
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, f)| (*f, skipped + word_len))
}

/// The numbers written with digits in `text` (`1,250.50`, `3.5`, `7 pm`, `1.5 million`, `20k`, the
/// parts of `2025-12-31` and `11:00`) and the number words (`three`).
pub fn numbers(text: &str) -> Vec<Number> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
            let start = i;
            let mut j = i;
            let mut raw = String::new();
            while j < bytes.len() {
                let b = bytes[j];
                if b.is_ascii_digit() {
                    raw.push(b as char);
                    j += 1;
                } else if b == b','
                    && j + 3 < bytes.len() + 1
                    && bytes
                        .get(j + 1..j + 4)
                        .is_some_and(|g| g.iter().all(u8::is_ascii_digit))
                    && !bytes.get(j + 4).is_some_and(u8::is_ascii_digit)
                {
                    j += 1; // thousands separator
                } else if b == b'.'
                    && bytes.get(j + 1).is_some_and(u8::is_ascii_digit)
                    && !raw.contains('.')
                {
                    raw.push('.');
                    j += 1;
                } else {
                    break;
                }
            }
            let mut value: f64 = raw.parse().unwrap_or(0.0);
            // am/pm after the number (optionally after a space).
            let rest = text[j..].trim_start_matches(' ').to_ascii_lowercase();
            let is_pm = rest.starts_with("pm") || rest.starts_with("p.m");
            let is_am = rest.starts_with("am") || rest.starts_with("a.m");
            if (is_pm || is_am) && !rest[2..].starts_with(|c: char| c.is_ascii_alphabetic()) {
                if is_pm && value < 12.0 {
                    value += 12.0;
                } else if is_am && value == 12.0 {
                    value = 0.0;
                }
            }
            let raw = value;
            let mut end = j;
            if let Some((factor, len)) = scale_after(&text[j..]) {
                value *= factor;
                end = j + len;
            }
            out.push(Number {
                value,
                raw,
                span: Span { start, end },
            });
            i = end;
        } else {
            i += 1;
        }
    }
    for w in words(text) {
        let lower = w.text.to_lowercase();
        // A scale word already read with its digits is not a number of its own.
        if out
            .iter()
            .any(|n| w.start >= n.span.start && w.start < n.span.end)
        {
            continue;
        }
        if let Some(value) = number_word(&lower) {
            out.push(Number {
                value,
                raw: value,
                span: Span {
                    start: w.start,
                    end: w.start + w.text.len(),
                },
            });
        }
    }
    out.sort_by_key(|n| n.span.start);
    out
}

/// A number as a key that compares exactly (values are rounded to 1e-6).
pub fn number_key(value: f64) -> i64 {
    (value * 1_000_000.0).round() as i64
}

/// Negation cues in lower-cased text.
pub fn has_negation(lower: &str) -> bool {
    const CUES: &[&str] = &[
        "not", "no", "never", "none", "neither", "nor", "without", "cannot", "nothing", "lacks",
    ];
    if lower.contains("n't") || lower.contains("n’t") {
        return true;
    }
    let ws = words(lower);
    ws.iter().enumerate().any(|(i, w)| {
        CUES.contains(&w.text)
            // "not only … but also" affirms.
            && !(w.text == "not" && ws.get(i + 1).is_some_and(|n| n.text == "only"))
            // "no-fly", "no-show": a compound, not a negation.
            && !(w.text == "no" && lower[w.start + 2..].starts_with('-'))
    })
}

/// Splits a `camelCase` or `snake_case` identifier into words (`RestaurantsTakeOut` →
/// `Restaurants Take Out`).
pub fn split_identifier(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 4);
    let mut prev_lower = false;
    for c in id.chars() {
        if c == '_' || c == '-' {
            out.push(' ');
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(t: &'a str, spans: &[Span]) -> Vec<&'a str> {
        spans.iter().map(|s| &t[s.start..s.end]).collect()
    }

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        let mut sorted = STOPWORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, STOPWORDS);
    }

    #[test]
    fn sentences_keep_spans_and_skip_list_numbers_and_initials() {
        let t = "The deal closed. Dr. Smith signed it on Jan. 3!\n1. First step.  2. Second?";
        let s = sentences(t);
        assert_eq!(
            texts(t, &s),
            vec![
                "The deal closed.",
                "Dr. Smith signed it on Jan. 3!",
                "1. First step.",
                "2. Second?"
            ]
        );
    }

    #[test]
    fn numbers_read_separators_decimals_times_and_words() {
        let vals: Vec<f64> =
            numbers("paid $1,250.50 at 7 pm, rated 3.5 by three people on 2025-12-31")
                .iter()
                .map(|n| n.value)
                .collect();
        assert_eq!(vals, vec![1250.5, 19.0, 3.5, 3.0, 2025.0, 12.0, 31.0]);
    }

    #[test]
    fn scale_words_multiply_the_digits_before_them() {
        let vals: Vec<f64> = numbers("$1.5 million, 20k users, 3bn, 5 m away, one million")
            .iter()
            .map(|n| n.value)
            .collect();
        assert_eq!(vals, vec![1_500_000.0, 20_000.0, 3e9, 5.0, 1.0, 1e6]);
    }

    #[test]
    fn identifiers_split_into_words() {
        assert_eq!(
            split_identifier("RestaurantsTakeOut"),
            "Restaurants Take Out"
        );
        assert_eq!(split_identifier("business_stars"), "business stars");
    }

    #[test]
    fn negation_cues() {
        assert!(has_negation("it doesn't renew"));
        assert!(has_negation("there is no fee"));
        assert!(!has_negation("the note renews"));
    }
}
