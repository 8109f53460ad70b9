//! Report tables, built once and rendered twice: as Markdown (`report.md`
//! of the audit and of `e2eb bench run`) and as HTML (the audit's
//! `report.html`). Also the one number format the reports and charts share.

use std::fmt::Write as _;

use crate::report::xml::escape_text;

/// Horizontal alignment of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A verdict a cell carries; HTML colours the cell by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Passed, met.
    Pass,
    /// Failed, missed.
    Fail,
    /// Not run, not measured.
    Skip,
}

impl Status {
    /// `Some(true)` → pass, `Some(false)` → fail, `None` → skip.
    pub fn of(passed: Option<bool>) -> Self {
        match passed {
            Some(true) => Status::Pass,
            Some(false) => Status::Fail,
            None => Status::Skip,
        }
    }

    fn class(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// How a cell's text is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// As is.
    #[default]
    Plain,
    /// Bold (`**x**`, `<strong>`).
    Strong,
    /// Code (`` `x` ``, `<code>`).
    Code,
}

/// One cell: plain text (escaped by each renderer) with an optional verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cell {
    /// The text, unescaped.
    pub text: String,
    /// Verdict, for colouring.
    pub status: Option<Status>,
    /// How the text is set.
    pub style: Style,
    /// Links shown instead of the text, as (label, href); hrefs are paths
    /// relative to the report, or URLs.
    pub links: Vec<(String, String)>,
}

impl Cell {
    /// A plain cell.
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), status: None, style: Style::Plain, links: Vec::new() }
    }

    /// The same cell, its text linking to `href`.
    #[must_use]
    pub fn with_link(mut self, href: impl Into<String>) -> Self {
        self.links = vec![(self.text.clone(), href.into())];
        self
    }

    /// A cell of links, (label, href) each, separated by commas.
    pub fn links(links: Vec<(String, String)>) -> Self {
        let text = links.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>().join(", ");
        Self { links, ..Self::new(text) }
    }

    /// The same cell carrying a verdict.
    #[must_use]
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }

    /// The same cell with a style.
    #[must_use]
    pub fn with_style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::new(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::new(text)
    }
}

/// A table: a header of named, aligned columns and rows of cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Column names and alignments.
    pub header: Vec<(String, Align)>,
    /// Rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self { header: columns.iter().map(|(n, a)| ((*n).to_owned(), *a)).collect(), rows: Vec::new() }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.header.len(), "one cell per column");
        self.rows.push(cells);
    }

    /// GitHub-flavoured Markdown, ending with a newline.
    pub fn to_markdown(&self) -> String {
        let line = |cells: &mut dyn Iterator<Item = String>| {
            let mut s: String = cells.map(|c| format!("| {c} ")).collect();
            s.push_str("|\n");
            s
        };
        let mut s = line(&mut self.header.iter().map(|(n, _)| md_escape(n)));
        for (_, a) in &self.header {
            s.push_str(if *a == Align::Right { "|---:" } else { "|---" });
        }
        s.push_str("|\n");
        for r in &self.rows {
            s.push_str(&line(&mut r.iter().map(|c| {
                let t = md_escape(&c.text);
                if !c.links.is_empty() {
                    return c
                        .links
                        .iter()
                        .map(|(label, href)| format!("[{}]({})", md_escape(label), href.replace(' ', "%20")))
                        .collect::<Vec<_>>()
                        .join(", ");
                }
                match c.style {
                    _ if t.is_empty() => t,
                    Style::Plain => t,
                    Style::Strong => format!("**{t}**"),
                    Style::Code => format!("`{t}`"),
                }
            })));
        }
        s
    }

    /// An HTML `<table>`; right-aligned cells get class `n`, verdicts their class.
    pub fn to_html(&self) -> String {
        let mut h = String::from("<table><tr>");
        for (n, _) in &self.header {
            let _ = write!(h, "<th>{}</th>", escape_text(n));
        }
        h.push_str("</tr>");
        for r in &self.rows {
            h.push_str("<tr>");
            for (c, (_, align)) in r.iter().zip(&self.header) {
                let classes: Vec<&str> = [(*align == Align::Right).then_some("n"), c.status.map(Status::class)]
                    .into_iter()
                    .flatten()
                    .collect();
                if classes.is_empty() {
                    h.push_str("<td>");
                } else {
                    let _ = write!(h, "<td class=\"{}\">", classes.join(" "));
                }
                let t = escape_text(&c.text);
                if c.links.is_empty() {
                    let _ = match c.style {
                        Style::Plain => write!(h, "{t}"),
                        Style::Strong => write!(h, "<strong>{t}</strong>"),
                        Style::Code => write!(h, "<code>{t}</code>"),
                    };
                } else {
                    let links: Vec<String> = c
                        .links
                        .iter()
                        .map(|(label, href)| {
                            format!("<a href=\"{}\">{}</a>", crate::report::xml::escape_attr(href), escape_text(label))
                        })
                        .collect();
                    h.push_str(&links.join(", "));
                }
                h.push_str("</td>");
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
        h
    }
}

/// Keeps a cell on its row: `|` is escaped and line breaks become spaces.
fn md_escape(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// A number with about three significant digits (`6400`, `79.4`, `1.20`;
/// `n/a` when not finite). Charts add an SI suffix on top of it
/// ([`crate::report::chart::short_number`]).
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        "n/a".to_owned()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(&[("name", Align::Left), ("n", Align::Right), ("verdict", Align::Left)]);
        t.row(vec![
            "a|b <c>".into(),
            "1".into(),
            Cell::new("MISSED").with_style(Style::Strong).with_status(Status::Fail),
        ]);
        t.row(vec![Cell::new("cmd").with_style(Style::Code), "—".into(), Cell::new("")]);
        t
    }

    #[test]
    fn markdown_escapes_pipes_and_styles_cells() {
        assert_eq!(
            table().to_markdown(),
            "| name | n | verdict |\n|---|---:|---|\n| a\\|b <c> | 1 | **MISSED** |\n| `cmd` | — |  |\n"
        );
    }

    #[test]
    fn html_escapes_and_classes_cells() {
        let h = table().to_html();
        assert!(h.starts_with("<table><tr><th>name</th><th>n</th><th>verdict</th></tr>"), "{h}");
        assert!(
            h.contains("<td>a|b &lt;c&gt;</td><td class=\"n\">1</td><td class=\"fail\"><strong>MISSED</strong></td>")
        );
        assert!(h.contains("<td><code>cmd</code></td>") && h.ends_with("</tr></table>"));
    }

    #[test]
    fn numbers_keep_three_digits() {
        assert_eq!(number(6400.4), "6400");
        assert_eq!(number(79.44), "79.4");
        assert_eq!(number(1.2), "1.20");
        assert_eq!(number(-0.061), "-0.06");
        assert_eq!(number(f64::NAN), "n/a");
    }
}
