//! Full-text search over documents: a parsed query rendered for the
//! engine (an FTS5 `MATCH` on SQLite, a `tsquery` on PostgreSQL, both bound
//! as one parameter), ranked best first, one page at a time, with a
//! highlighted snippet of each document found.
//!
//! A page is read in two steps: the ids and ranks of the page (the filter
//! and the caller's scope applied in the same query), then those documents
//! and their snippets, so that snippets are made for one page only. A
//! query ranks at most the newest [`RANKED_MATCHES`] of its matches.

use super::documents::{COLUMNS, from_row};
use super::query::cursor;
use super::query::filter;
use super::query::select::Scope;
use super::query::sql::{Param, Sql};
use super::session::Session;
use super::{Backend, StoreError, core_tables};
use crate::domain::search::{MARK_END, MARK_START, SearchQuery, TermKind};
use crate::domain::{Document, Filter, Value};
use sqlx::Row;
use std::collections::HashMap;

/// The most matches a search ranks: a query that matches more ranks the
/// newest this many (within its filter and the caller's scope), so that a
/// query of very common words costs no more than one that matches this
/// many. Ranking every match of such a query took 562 ms over 1,000,000
/// documents, for pages that a more specific query serves better.
pub(super) const RANKED_MATCHES: i64 = 10_000;

/// Words around the match in a snippet.
pub(super) const SNIPPET_WORDS: u32 = 16;

/// One search.
pub struct SearchSpec<'a> {
    pub query: &'a SearchQuery,
    /// The query as given, which cursors are bound to.
    pub text: &'a str,
    pub filter: &'a Filter,
    pub scope: Option<&'a Scope>,
    pub limit: u32,
    pub cursor: Option<&'a str>,
}

/// A document found, its rank (lower is better) and its snippet, with the
/// match between [`MARK_START`] and [`MARK_END`].
pub struct Hit {
    pub document: Document,
    pub rank: f64,
    pub snippet: String,
}

/// One page of hits, best first, and the cursor of the next page.
pub async fn documents(
    session: &Session,
    spec: &SearchSpec<'_>,
) -> Result<(Vec<Hit>, Option<String>), StoreError> {
    super::query::check_page_limit(spec.limit)?;
    let backend = session.db().backend();
    let key = session.db().cursor_key();
    let binding = Binding::of(spec);
    let offset = match spec.cursor {
        Some(text) => match cursor::open(&key, &binding.query(), text, 1)?.as_slice() {
            [Value::Integer(offset)] if *offset >= 0 => *offset,
            _ => return Err(cursor::invalid_cursor().into()),
        },
        None => 0,
    };
    let matched = render_match(spec.query, backend);

    // The newest RANKED_MATCHES matches within the filter and scope, then
    // the page of those, best first.
    let mut sql = match backend {
        Backend::Sqlite => Sql::new(
            "SELECT id, rank, search_row FROM (SELECT documents.id AS id, \
             bm25(documents_fts, 4.0, 1.0) AS rank, documents_fts.rowid AS search_row \
             FROM documents_fts JOIN document_search_rows r ON r.search_row = documents_fts.rowid \
             JOIN documents ON documents.id = r.document_id WHERE documents_fts MATCH ",
        ),
        Backend::Postgres => Sql::new(
            "SELECT id, rank, search_row FROM (SELECT documents.id AS id, \
             -ts_rank(documents.search, q.q)::float8 AS rank, 0::bigint AS search_row \
             FROM documents, to_tsquery('simple', ",
        ),
    };
    sql.param(Param::Text(matched.clone()));
    match backend {
        Backend::Sqlite => sql.push(" AND "),
        Backend::Postgres => sql.push(") AS q(q) WHERE documents.search @@ q.q AND "),
    };
    filter::render(core_tables::documents(), spec.filter, backend, &mut sql)?;
    if let Some(scope) = spec.scope {
        sql.push(" AND documents.")
            .ident(scope.column)
            .push(" = ")
            .param(Param::Text(scope.value.clone()));
    }
    sql.push(match backend {
        Backend::Sqlite => " ORDER BY documents_fts.rowid DESC LIMIT ",
        Backend::Postgres => " ORDER BY documents.created_at DESC, documents.id DESC LIMIT ",
    })
    .param(Param::Int(RANKED_MATCHES))
    .push(") AS newest ORDER BY rank, id LIMIT ")
    .param(Param::Int(i64::from(spec.limit) + 1))
    .push(" OFFSET ")
    .param(Param::Int(offset));
    let ranked = {
        let mut conn = session.read_conn().await?;
        sql.query().fetch_all(&mut *conn).await?
    };
    let mut page: Vec<(String, f64, i64)> = ranked
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let next = (page.len() > spec.limit as usize).then(|| {
        page.truncate(spec.limit as usize);
        cursor::seal(
            &key,
            &binding.query(),
            &[Value::Integer(offset + i64::from(spec.limit))],
        )
    });
    if page.is_empty() {
        return Ok((Vec::new(), next));
    }

    let ids: Vec<&str> = page.iter().map(|(id, _, _)| id.as_str()).collect();
    let mut documents = by_id(session, &ids).await?;
    let mut snippets = snippets(session, backend, &matched, &page).await?;
    let hits = page
        .into_iter()
        .filter_map(|(id, rank, _)| {
            let document = documents.remove(&id)?;
            let snippet = snippets.remove(&id).unwrap_or_default();
            Some(Hit {
                document,
                rank,
                snippet,
            })
        })
        .collect();
    Ok((hits, next))
}

/// What a search cursor is bound to: the query, the filter and the scope.
struct Binding {
    params: Vec<Param>,
}

impl Binding {
    fn of(spec: &SearchSpec<'_>) -> Binding {
        Binding {
            params: vec![
                Param::Text(spec.text.to_string()),
                Param::Text(format!("{:?}", spec.filter)),
                Param::Text(spec.scope.map(|s| s.value.clone()).unwrap_or_default()),
            ],
        }
    }

    fn query(&self) -> cursor::Query<'_> {
        cursor::Query {
            sql: "documents:search",
            params: &self.params,
            order: "rank",
        }
    }
}

/// The query as the engine's full-text syntax: every term quoted, so no
/// word can be read as an operator.
pub(super) fn render_match(query: &SearchQuery, backend: Backend) -> String {
    let (included, excluded): (Vec<_>, Vec<_>) = query.terms.iter().partition(|t| !t.excluded);
    match backend {
        Backend::Sqlite => {
            let term = |kind: &TermKind| match kind {
                TermKind::Word(w) => format!("\"{w}\""),
                TermKind::Prefix(w) => format!("\"{w}\"*"),
                TermKind::Phrase(words) => format!("\"{}\"", words.join(" ")),
            };
            let mut text = format!(
                "({})",
                included
                    .iter()
                    .map(|t| term(&t.kind))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            );
            for t in excluded {
                text.push_str(" NOT ");
                text.push_str(&term(&t.kind));
            }
            text
        }
        Backend::Postgres => {
            let term = |kind: &TermKind| match kind {
                TermKind::Word(w) => format!("'{w}'"),
                TermKind::Prefix(w) => format!("'{w}':*"),
                TermKind::Phrase(words) => format!(
                    "({})",
                    words
                        .iter()
                        .map(|w| format!("'{w}'"))
                        .collect::<Vec<_>>()
                        .join(" <-> ")
                ),
            };
            included
                .iter()
                .map(|t| term(&t.kind))
                .chain(excluded.iter().map(|t| format!("!{}", term(&t.kind))))
                .collect::<Vec<_>>()
                .join(" & ")
        }
    }
}

/// PostgreSQL's `ts_headline` options for a snippet like FTS5's.
pub(super) fn headline_options() -> String {
    format!(
        "StartSel={MARK_START}, StopSel={MARK_END}, MaxWords={}, MinWords={}, \
         ShortWord=0, HighlightAll=false, MaxFragments=1, FragmentDelimiter=\" … \"",
        SNIPPET_WORDS + 8,
        SNIPPET_WORDS / 2
    )
}

/// The documents of `ids`, by id.
async fn by_id(session: &Session, ids: &[&str]) -> Result<HashMap<String, Document>, StoreError> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM documents WHERE id IN ("));
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.param(Param::Text(id.to_string()));
    }
    sql.push(")");
    let rows = {
        let mut conn = session.read_conn().await?;
        sql.query().fetch_all(&mut *conn).await?
    };
    rows.iter()
        .map(|row| {
            let document = from_row(row)?;
            Ok((document.id.clone(), document))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// The snippet of each document of the page, by id.
async fn snippets(
    session: &Session,
    backend: Backend,
    matched: &str,
    page: &[(String, f64, i64)],
) -> Result<HashMap<String, String>, StoreError> {
    let mut sql = match backend {
        Backend::Sqlite => {
            let mut sql = Sql::new(&format!(
                "SELECT r.document_id, snippet(documents_fts, -1, char({}), char({}), '…', {SNIPPET_WORDS}) \
                 FROM documents_fts JOIN document_search_rows r ON r.search_row = documents_fts.rowid \
                 WHERE documents_fts MATCH ",
                MARK_START as u32, MARK_END as u32
            ));
            sql.param(Param::Text(matched.to_string()))
                .push(" AND documents_fts.rowid IN (");
            for (i, (_, _, row)) in page.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.param(Param::Int(*row));
            }
            sql
        }
        Backend::Postgres => {
            // The content's headline, and the title's for a document that
            // matched by its title alone (FTS5 picks the better column).
            let mut sql = Sql::new(
                "SELECT id, ts_headline('simple', left(content, 200000), q.q, o.o), \
                 ts_headline('simple', title, q.q, o.o) FROM documents, to_tsquery('simple', ",
            );
            sql.param(Param::Text(matched.to_string()))
                .push(") AS q(q), (SELECT ");
            sql.param(Param::Text(headline_options()))
                .push("::text) AS o(o) WHERE id IN (");
            for (i, (id, _, _)) in page.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.param(Param::Text(id.clone()));
            }
            sql
        }
    };
    sql.push(")");
    let rows = {
        let mut conn = session.read_conn().await?;
        sql.query().fetch_all(&mut *conn).await?
    };
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            let snippet: String = row.try_get(1)?;
            if backend == Backend::Postgres && !snippet.contains(MARK_START) {
                return Ok((id, row.try_get(2)?));
            }
            Ok((id, snippet))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}
