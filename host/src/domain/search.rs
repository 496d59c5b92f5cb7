//! The full-text query language, the same on every backend: words (every
//! one must match), `"quoted phrases"` (words in that order), `word*` (a
//! prefix), and `-word` or `-"phrase"` (must not match). Words are letters
//! and digits, matched without case; any other character separates them,
//! so `e-mail` is the phrase `"e mail"`. Parsed here, rendered for each
//! engine by the store.

/// Where a snippet's match starts and ends: private-use characters that
/// documents do not hold, made into markup once the text is escaped.
pub const MARK_START: char = '\u{E000}';
pub const MARK_END: char = '\u{E001}';

/// A snippet as HTML: its text escaped, its marked matches in `<mark>`.
pub fn snippet_html(snippet: &str) -> String {
    let mut html = String::with_capacity(snippet.len() + 32);
    for c in snippet.chars() {
        match c {
            MARK_START => html.push_str("<mark>"),
            MARK_END => html.push_str("</mark>"),
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
    }
    html
}

/// Most terms in one query.
pub const MAX_TERMS: usize = 32;
/// Longest word, in characters.
pub const MAX_WORD_CHARS: usize = 100;

/// A parsed query: at least one term that is not excluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<Term>,
}

/// One term and whether it must not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub kind: TermKind,
    pub excluded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermKind {
    /// Lower-cased letters and digits.
    Word(String),
    /// Words starting with this.
    Prefix(String),
    /// Two or more words in this order.
    Phrase(Vec<String>),
}

/// Why a query was refused: a message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SearchSyntaxError(pub String);

fn error(message: impl Into<String>) -> SearchSyntaxError {
    SearchSyntaxError(message.into())
}

impl SearchQuery {
    pub fn parse(text: &str) -> Result<SearchQuery, SearchSyntaxError> {
        let mut terms = Vec::new();
        let mut rest = text.trim_start();
        while !rest.is_empty() {
            let excluded = rest.starts_with('-');
            if excluded {
                rest = &rest[1..];
            }
            let (kind, after) = if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| error("a quoted phrase is not closed: add the closing `\"`"))?;
                let words = words(&quoted[..end])?;
                if words.is_empty() {
                    return Err(error("a quoted phrase holds no word"));
                }
                (phrase_or_word(words), &quoted[end + 1..])
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let token = &rest[..end];
                if token.is_empty() {
                    return Err(error("`-` must be followed by a word or a phrase"));
                }
                let (body, prefix) = match token.strip_suffix('*') {
                    Some(body) => (body, true),
                    None => (token, false),
                };
                if body.contains(['*', '"']) {
                    return Err(error(format!(
                        "`{token}`: `*` may only end a word, and `\"` must start a phrase"
                    )));
                }
                let words = words(body)?;
                let kind = match (words.len(), prefix) {
                    (0, _) => {
                        return Err(error(format!("`{token}` holds no letter or digit")));
                    }
                    (1, true) => TermKind::Prefix(words.into_iter().next().unwrap_or_default()),
                    (_, true) => {
                        return Err(error(format!(
                            "`{token}`: a prefix must be one word of letters and digits"
                        )));
                    }
                    (_, false) => phrase_or_word(words),
                };
                (kind, &rest[end..])
            };
            terms.push(Term { kind, excluded });
            if terms.len() > MAX_TERMS {
                return Err(error(format!("at most {MAX_TERMS} terms")));
            }
            rest = after.trim_start();
        }
        if terms.is_empty() {
            return Err(error("the query is empty: give at least one word"));
        }
        if terms.iter().all(|t| t.excluded) {
            return Err(error(
                "every term is excluded: give at least one word to look for",
            ));
        }
        Ok(SearchQuery { terms })
    }
}

fn phrase_or_word(mut words: Vec<String>) -> TermKind {
    if words.len() == 1 {
        TermKind::Word(words.remove(0))
    } else {
        TermKind::Phrase(words)
    }
}

/// The lower-cased words of `text`: runs of letters and digits.
fn words(text: &str) -> Result<Vec<String>, SearchSyntaxError> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.chars().count() > MAX_WORD_CHARS {
                Err(error(format!(
                    "a word is longer than {MAX_WORD_CHARS} characters"
                )))
            } else {
                Ok(w.to_lowercase())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(w: &str, excluded: bool) -> Term {
        Term {
            kind: TermKind::Word(w.into()),
            excluded,
        }
    }

    #[test]
    fn words_phrases_prefixes_and_exclusions() {
        let q =
            SearchQuery::parse(r#" Rust "async RUNTIME" tok* -java -"big iron" e-mail "#).unwrap();
        assert_eq!(
            q.terms,
            vec![
                word("rust", false),
                Term {
                    kind: TermKind::Phrase(vec!["async".into(), "runtime".into()]),
                    excluded: false
                },
                Term {
                    kind: TermKind::Prefix("tok".into()),
                    excluded: false
                },
                word("java", true),
                Term {
                    kind: TermKind::Phrase(vec!["big".into(), "iron".into()]),
                    excluded: true
                },
                Term {
                    kind: TermKind::Phrase(vec!["e".into(), "mail".into()]),
                    excluded: false
                },
            ]
        );
        assert_eq!(
            SearchQuery::parse("Café").unwrap().terms,
            vec![word("café", false)]
        );
    }

    #[test]
    fn bad_syntax_names_the_problem() {
        for (query, problem) in [
            ("", "empty"),
            ("   ", "empty"),
            ("-rust", "every term is excluded"),
            ("\"open phrase", "not closed"),
            ("\"\"", "no word"),
            ("a*b", "`*` may only end a word"),
            ("*", "holds no letter"),
            ("- rust", "`-` must be followed"),
            ("e-ma*", "a prefix must be one word"),
            ("!!!", "holds no letter"),
        ] {
            let error = SearchQuery::parse(query).unwrap_err();
            assert!(error.0.contains(problem), "{query:?}: {error}");
        }
        let many = vec!["w"; MAX_TERMS + 1].join(" ");
        assert!(SearchQuery::parse(&many).is_err());
        assert!(SearchQuery::parse(&"x".repeat(MAX_WORD_CHARS + 1)).is_err());
    }
}
