//! `report-Y-CCY.html`: one self-contained page (inline CSS and SVG, no script, no external
//! reference) built from the files' tables. Every figure is a cell of a file, formatted by
//! [`super::human`], and carries `data-f` (file), `data-c` (column) and `data-r` (row of the
//! file, 0 the first after the header) so that a test can check it against the file.

use super::{CarfFiles, Cell, Facts, GainsFiles, Kind, Meta, Table, human};
use chrono::Datelike;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Tables with more rows than this link to their CSV instead of being inlined.
pub const INLINE_ROWS: usize = 2000;

/// One thing that needs the user's attention, with the command that fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What is wrong.
    pub what: String,
    /// The command (or setting) that fixes it.
    pub fix: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Year, currency, method.
    pub meta: &'a Meta,
    /// The store's completeness facts.
    pub facts: &'a Facts,
    /// The export's files.
    pub carf: &'a CarfFiles,
    /// The gains files, if computed.
    pub gains: Option<&'a GainsFiles>,
}

/// What needs attention, in the order the issue lists it.
pub fn checklist(i: &Inputs) -> Vec<Check> {
    let (m, f) = (i.meta, i.facts);
    let args = format!("--year {} --currency {}", m.year, m.currency);
    let mut out = Vec::new();
    let unpriced: Decimal = column_sum(&i.carf.summary, "unpriced_transactions");
    if !unpriced.is_zero() {
        out.push(Check {
            what: format!("{} no price in {}", count(unpriced, "leg has", "legs have"), m.currency),
            fix: format!(
                "kraken-tax prices import PAIR_1440.csv, or run `kraken-tax report {args}` without --offline"
            ),
        });
    }
    if f.unclassified > 0 {
        out.push(Check {
            what: format!(
                "{} unclassified",
                count(f.unclassified.into(), "ledger leg is", "ledger legs are")
            ),
            fix: "add a rule under [classify] in the config, then kraken-tax rebuild".to_owned(),
        });
    }
    match i.gains {
        None => out.push(Check {
            what: format!("gains were not computed for method {}", m.method),
            fix: format!("kraken-tax gains {args} --method {}", m.method),
        }),
        Some(g) => {
            let unknown = total_row(&g.summary)
                .map(|r| g.summary.get(r, "unknown_cost_disposals").num())
                .unwrap_or_default()
                .unwrap_or_default();
            if !unknown.is_zero() {
                out.push(Check {
                    what: format!(
                        "{} an unknown cost",
                        count(unknown, "disposal has", "disposals have")
                    ),
                    fix: "kraken-tax basis import FILE".to_owned(),
                });
            }
        }
    }
    if !f.identity_missing.is_empty() {
        out.push(Check {
            what: format!(
                "the CARF XML lacks your identity: {}",
                f.identity_missing.join(", ")
            ),
            fix: format!("set them under [identity] in the config, then kraken-tax export {args}"),
        });
    }
    if f.gaps > 0 {
        out.push(Check {
            what: format!(
                "the latest verification found {}",
                count(f.gaps.into(), "probable gap", "probable gaps")
            ),
            fix: "kraken-tax verify (lists the entries), then kraken-tax sync".to_owned(),
        });
    }
    if f.last_sync.is_none() {
        out.push(Check {
            what: "the account was never synced from Kraken".to_owned(),
            fix: "kraken-tax sync".to_owned(),
        });
    }
    if f.verify.is_none() {
        out.push(Check {
            what: "the history was never verified".to_owned(),
            fix: "kraken-tax verify".to_owned(),
        });
    }
    out
}

/// `1 leg has`, `2 legs have`.
fn count(n: Decimal, one: &str, many: &str) -> String {
    format!("{n} {}", if n == Decimal::ONE { one } else { many })
}

/// The row of a summary whose `crypto_asset` is `TOTAL`.
pub fn total_row(t: &Table) -> Option<&[Cell]> {
    t.rows
        .iter()
        .find(|r| t.get(r, "crypto_asset").text() == "TOTAL")
        .map(Vec::as_slice)
}

fn column_sum(t: &Table, col: &str) -> Decimal {
    t.rows.iter().filter_map(|r| t.get(r, col).num()).sum()
}

/// Escapes text for HTML content and attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2433;margin:0 auto;max-width:1180px;padding:24px;line-height:1.4;font-size:14px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #d7dce5;padding-bottom:4px}
h3{font-size:15px;margin:12px 0 6px}
.sub{color:#56607a}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:8px;margin:12px 0}
.facts div{background:#f3f5f9;border-radius:6px;padding:8px 10px;overflow-wrap:anywhere}
.facts b{display:block;font-size:11px;text-transform:uppercase;color:#56607a;letter-spacing:.04em}
ul.check{padding-left:0;list-style:none}ul.check li{border-left:4px solid #d9822b;background:#fdf6ee;margin:6px 0;padding:6px 10px;overflow-wrap:anywhere}
ul.check li.ok{border-color:#2e9e5b;background:#eef8f2}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;background:#e9ecf2;padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:6px 0;font-size:12px}
th,td{padding:3px 6px;border-bottom:1px solid #e3e6ec;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f3f5f9;font-weight:600}
td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td:first-child,th:first-child{white-space:nowrap}
tr.total td{font-weight:700;border-top:2px solid #1d2433}
.side{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.side>div{min-width:0;overflow-x:auto}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:16px}
figure{margin:0;min-width:0}figcaption{font-size:13px;font-weight:600;margin-bottom:4px}
svg{width:100%;height:auto;display:block}
svg text{font-size:11px;fill:#3c4559}
.note{font-size:11px;color:#56607a;margin:2px 0 10px}
@media print{
 @page{size:A4;margin:12mm}
 body{max-width:none;padding:0;font-size:10px}
 table{font-size:9px}
 .side,.charts{grid-template-columns:1fr 1fr}
 h2{break-after:avoid}figure,tr,.facts div,ul.check li{break-inside:avoid}
}
"#;

const PALETTE: [&str; 10] = [
    "#3b6fd8", "#d9822b", "#2e9e5b", "#c0392b", "#8e44ad", "#16a2b8", "#b8860b", "#7f8c8d",
    "#e84393", "#2d3436",
];

/// The whole page.
pub fn render(i: &Inputs) -> String {
    let (m, f) = (i.meta, i.facts);
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("Kraken tax report {} ({})", m.year, m.currency);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    headline(&mut h, i, &title);
    let checks = checklist(i);
    h.push_str("<h2 id=\"attention\">What needs attention</h2>\n<ul class=\"check\">");
    if checks.is_empty() {
        h.push_str(
            "<li class=\"ok\">Nothing: the data is complete as far as the tool can tell.</li>",
        );
    }
    for c in &checks {
        let _ = write!(
            h,
            "<li>{}<br>fix: <code>{}</code></li>",
            esc(&c.what),
            esc(&c.fix)
        );
    }
    h.push_str("</ul>");
    side_by_side(&mut h, i);
    charts(&mut h, i);
    if let Some(g) = i.gains {
        for (title, t, cols) in [
            (
                "Income",
                g.income.as_ref(),
                &[
                    "time_utc",
                    "crypto_asset",
                    "kind",
                    "units",
                    "value",
                    "price_source",
                ][..],
            ),
            (
                "Margin",
                g.margin.as_ref(),
                &["time_utc", "kraken_type", "asset", "amount", "fee", "value"][..],
            ),
            (
                "Holdings",
                g.holdings.as_ref(),
                &[
                    "account",
                    "crypto_asset",
                    "units_start",
                    "units_end",
                    "cost_end",
                    "unknown_cost_units",
                    "moved_out_units",
                    "price_end",
                    "value_end",
                ][..],
            ),
        ] {
            let _ = write!(h, "<h2>{title}</h2>");
            match t {
                Some(t) => table(&mut h, t, cols, &m.currency),
                None => h.push_str("<p class=\"sub\">The gains run wrote no such file.</p>"),
            }
        }
    } else {
        h.push_str("<h2>Income, margin and holdings</h2><p class=\"sub\">Not available: gains were not computed (see the checklist).</p>");
    }
    let _ = write!(
        h,
        "<p class=\"note\">Account {} · written by kraken-tax {} from the files named under each figure; no figure here is computed differently from those files.</p>\n</body></html>",
        esc(&f.account),
        env!("CARGO_PKG_VERSION")
    );
    h
}

fn headline(h: &mut String, i: &Inputs, title: &str) {
    let (m, f) = (i.meta, i.facts);
    let accounts = i
        .carf
        .summary
        .rows
        .first()
        .map(|r| i.carf.summary.get(r, "account").text().to_owned())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| f.account.clone());
    let _ = write!(
        h,
        "<h1>{}</h1>\n<p class=\"sub\">The year at a glance: what Kraken reports about you (CARF) next to what you file (gains).</p>\n<div class=\"facts\">",
        esc(title)
    );
    let verify = match (&f.verify, f.consistent) {
        (None, _) => "never run".to_owned(),
        (Some(v), _) => v.clone(),
    };
    let method = match i.gains {
        Some(g) => g.method.clone(),
        None => format!("{} (not computed)", m.method),
    };
    for (k, v) in [
        ("Account", accounts),
        (
            "Period",
            format!("{}-01-01 to {}-12-31 ({})", m.year, m.year, m.tz),
        ),
        (
            "Last sync",
            f.last_sync.clone().unwrap_or_else(|| "never".to_owned()),
        ),
        ("Verification", verify),
        ("Gaps", f.gaps.to_string()),
        ("Method", method),
        ("Currency", m.currency.clone()),
        (
            "Legs of the year",
            i.carf.transactions.rows.len().to_string(),
        ),
    ] {
        let _ = write!(h, "<div><b>{k}</b>{}</div>", esc(&v));
    }
    h.push_str("</div>");
}

/// One figure: the formatted cell with its origin.
fn fig(t: &Table, row: usize, col: &str, ccy: Option<&str>) -> String {
    let Some(c) = t.col(col) else {
        return String::new();
    };
    let cell = &t.rows[row][c];
    let text = match cell {
        Cell::Empty => return String::new(),
        Cell::Num(d) => match ccy {
            Some(ccy) => format!("{ccy}\u{a0}{}", human(*d)),
            None => human(*d),
        },
        Cell::Text(s) => s.clone(),
        Cell::Time(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
    };
    format!(
        "<span class=\"fig\" data-f=\"{}\" data-c=\"{}\" data-r=\"{row}\">{}</span>",
        esc(&t.file_name()),
        esc(col),
        esc(&text)
    )
}

/// A money column (in the reporting currency).
pub(crate) fn is_money(col: &str) -> bool {
    matches!(
        col,
        "amount"
            | "proceeds"
            | "cost"
            | "fees"
            | "gain"
            | "gains"
            | "losses"
            | "net_gain"
            | "short_net"
            | "long_net"
            | "exempt_net"
            | "income"
            | "value"
            | "cost_end"
            | "value_end"
            | "price_end"
            | "price"
            | "fee_amount"
            | "amount_gross"
    )
}

fn table(h: &mut String, t: &Table, cols: &[&str], ccy: &str) {
    let cols: Vec<&str> = cols
        .iter()
        .copied()
        .filter(|c| t.col(c).is_some())
        .collect();
    if t.rows.len() > INLINE_ROWS {
        let name = t.file_name();
        let _ = write!(
            h,
            "<p>{} rows: too many to show here; open <a href=\"{}\">{}</a>.</p>",
            t.rows.len(),
            esc(&name),
            esc(&name)
        );
    } else if t.rows.is_empty() {
        h.push_str("<p class=\"sub\">No rows.</p>");
    } else {
        h.push_str("<table><thead><tr>");
        for c in &cols {
            let class = if t.kinds[t.col(c).unwrap_or(0)] == Kind::Text {
                ""
            } else {
                " class=\"n\""
            };
            let _ = write!(h, "<th{class}>{}</th>", esc(c));
        }
        h.push_str("</tr></thead><tbody>");
        for r in 0..t.rows.len() {
            h.push_str("<tr>");
            for c in &cols {
                let k = t.kinds[t.col(c).unwrap_or(0)];
                let class = if matches!(k, Kind::Decimal | Kind::Count) {
                    " class=\"n\""
                } else {
                    ""
                };
                let money = (is_money(c) && *c != "price_end" && *c != "price").then_some(ccy);
                let _ = write!(h, "<td{class}>{}</td>", fig(t, r, c, money));
            }
            h.push_str("</tr>");
        }
        h.push_str("</tbody></table>");
    }
    footnote(h, t, &cols);
}

fn footnote(h: &mut String, t: &Table, cols: &[&str]) {
    let _ = write!(
        h,
        "<p class=\"note\">Source: <code>{}</code>, columns {}.</p>",
        esc(&t.file_name()),
        esc(&cols.join(", "))
    );
}

fn side_by_side(h: &mut String, i: &Inputs) {
    let ccy = i.meta.currency.as_str();
    h.push_str("<h2>What Kraken reports and what you file</h2>\n<div class=\"side\"><div><h3>CARF summary (what Kraken reports)</h3>");
    let s = &i.carf.summary;
    let cols = [
        "crypto_asset",
        "element",
        "type_code",
        "number_of_transactions",
        "number_of_units",
        "amount",
        "unpriced_transactions",
    ];
    if s.rows.is_empty() {
        h.push_str("<p class=\"sub\">No reportable transactions in the year.</p>");
    } else {
        h.push_str("<table><thead><tr><th>asset</th><th>element</th><th class=\"n\">txs</th><th class=\"n\">units</th><th class=\"n\">amount</th><th class=\"n\">unpriced</th></tr></thead><tbody>");
        for r in 0..s.rows.len() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{} {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                fig(s, r, "crypto_asset", None),
                fig(s, r, "element", None),
                fig(s, r, "type_code", None),
                fig(s, r, "number_of_transactions", None),
                fig(s, r, "number_of_units", None),
                fig(s, r, "amount", Some(ccy)),
                fig(s, r, "unpriced_transactions", None),
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("<p class=\"note\">CARF has no total across elements: an acquisition and a disposal do not add up.</p>");
    footnote(h, s, &cols);
    h.push_str("</div><div><h3>Gains summary (what you file)</h3>");
    match i.gains {
        None => h.push_str(
            "<p class=\"sub\">Gains were not computed for this method (see the checklist).</p>",
        ),
        Some(g) => {
            let s = &g.summary;
            let cols = [
                "crypto_asset",
                "disposals",
                "proceeds",
                "cost",
                "fees",
                "net_gain",
                "income",
                "unknown_cost_disposals",
            ];
            h.push_str("<table><thead><tr><th>asset</th><th class=\"n\">disposals</th><th class=\"n\">proceeds</th><th class=\"n\">cost</th><th class=\"n\">fees</th><th class=\"n\">net gain</th><th class=\"n\">income</th><th class=\"n\">unknown cost</th></tr></thead><tbody>");
            for r in 0..s.rows.len() {
                let total = s.get(&s.rows[r], "crypto_asset").text() == "TOTAL";
                let _ = write!(h, "<tr{}>", if total { " class=\"total\"" } else { "" });
                for c in cols {
                    let class = if c == "crypto_asset" {
                        ""
                    } else {
                        " class=\"n\""
                    };
                    let money = is_money(c).then_some(ccy);
                    let _ = write!(h, "<td{class}>{}</td>", fig(s, r, c, money));
                }
                h.push_str("</tr>");
            }
            h.push_str("</tbody></table>");
            footnote(h, s, &cols);
        }
    }
    h.push_str("</div></div>");
}

/// One bar chart: categories along x, one bar per series and category (zero too), so the
/// marks are exactly categories × series.
fn bar_chart(
    h: &mut String,
    id: &str,
    title: &str,
    categories: &[String],
    series: &[(&str, Vec<Decimal>)],
    ccy: &str,
    note: &str,
) {
    let (w, ht, left, bottom, top) = (560.0_f64, 260.0_f64, 70.0_f64, 40.0_f64, 22.0_f64);
    let n = categories.len().max(1) as f64;
    let values = series.iter().flat_map(|(_, v)| v.iter().copied());
    let max = values.clone().fold(Decimal::ZERO, Decimal::max);
    let min = values.fold(Decimal::ZERO, Decimal::min);
    let (maxf, minf) = (to_f64(max), to_f64(min));
    let span = if maxf - minf > 0.0 { maxf - minf } else { 1.0 };
    let plot_h = ht - bottom - top;
    let y = |v: f64| top + (maxf - v) / span * plot_h;
    let points = categories.len() * series.len();
    let _ = write!(
        h,
        "<figure id=\"{id}\"><figcaption>{}</figcaption><svg class=\"chart\" data-points=\"{points}\" viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    let _ = write!(
        h,
        "<line x1=\"{left}\" x2=\"{w}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#9aa3b5\"/><text x=\"{1}\" y=\"{2:.1}\" text-anchor=\"end\">{3}</text><text x=\"{1}\" y=\"{0:.1}\" text-anchor=\"end\">0</text>",
        y(0.0),
        left - 4.0,
        y(maxf) + 4.0,
        esc(&short(max)),
    );
    if min < Decimal::ZERO {
        let _ = write!(
            h,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 4.0,
            y(minf),
            esc(&short(min))
        );
    }
    let band = (w - left) / n;
    let bar = (band * 0.8) / series.len().max(1) as f64;
    let label_every = (categories.len() / 14).max(1);
    for (ci, cat) in categories.iter().enumerate() {
        let x0 = left + band * ci as f64 + band * 0.1;
        for (si, (name, vals)) in series.iter().enumerate() {
            let v = vals.get(ci).copied().unwrap_or_default();
            let vf = to_f64(v);
            let (y1, y2) = (y(vf.max(0.0)), y(vf.min(0.0)));
            let _ = write!(
                h,
                "<rect class=\"mark\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} {}: {ccy} {}</title></rect>",
                x0 + bar * si as f64,
                y1,
                (bar - 1.0).max(0.5),
                (y2 - y1).max(0.0),
                PALETTE[si % PALETTE.len()],
                esc(cat),
                esc(name),
                esc(&human(v)),
            );
        }
        if ci % label_every == 0 {
            let _ = write!(
                h,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                left + band * (ci as f64 + 0.5),
                ht - bottom + 14.0,
                esc(&clip(cat, 8))
            );
        }
    }
    let mut lx = left;
    for (si, (name, _)) in series.iter().enumerate() {
        let _ = write!(
            h,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            ht - 14.0,
            PALETTE[si % PALETTE.len()],
            lx + 14.0,
            ht - 5.0,
            esc(name)
        );
        lx += 14.0 + 7.0 * name.len() as f64 + 16.0;
    }
    let _ = write!(h, "</svg><p class=\"note\">{}</p></figure>", esc(note));
}

/// A horizontal stacked bar: one segment per (label, value), positive values only.
fn stacked(
    h: &mut String,
    id: &str,
    title: &str,
    parts: &[(String, Decimal)],
    ccy: &str,
    note: &str,
) {
    let (w, ht, left) = (560.0_f64, 120.0_f64, 10.0_f64);
    let total: Decimal = parts.iter().map(|(_, v)| *v).sum();
    let totf = to_f64(total).max(f64::MIN_POSITIVE);
    let _ = write!(
        h,
        "<figure id=\"{id}\"><figcaption>{}</figcaption><svg class=\"chart\" data-points=\"{}\" viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        parts.len(),
        esc(title)
    );
    let mut x = left;
    for (i, (label, v)) in parts.iter().enumerate() {
        let width = to_f64(*v) / totf * (w - 2.0 * left);
        let _ = write!(
            h,
            "<rect class=\"mark\" x=\"{x:.1}\" y=\"20\" width=\"{width:.1}\" height=\"40\" fill=\"{}\"><title>{}: {ccy} {}</title></rect>",
            PALETTE[i % PALETTE.len()],
            esc(label),
            esc(&human(*v))
        );
        x += width;
    }
    let (mut lx, mut ly) = (left, 80.0);
    for (i, (label, _)) in parts.iter().enumerate() {
        let text = clip(label, 8);
        let adv = 14.0 + 7.0 * text.len() as f64 + 12.0;
        if lx + adv > w {
            lx = left;
            ly += 16.0;
        }
        let _ = write!(
            h,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{ly:.1}\">{}</text>",
            ly - 9.0,
            PALETTE[i % PALETTE.len()],
            lx + 14.0,
            esc(&text)
        );
        lx += adv;
    }
    let _ = write!(h, "</svg><p class=\"note\">{}</p></figure>", esc(note));
}

fn to_f64(d: Decimal) -> f64 {
    d.to_string().parse().unwrap_or(0.0)
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// An axis label: the value rounded to a whole number, with separators.
fn short(d: Decimal) -> String {
    human(d.round())
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Per month (0..12) sums of `value_col` of the rows `keep` accepts.
fn monthly(t: &Table, value_col: &str, keep: impl Fn(&[Cell]) -> bool) -> Vec<Decimal> {
    let mut out = vec![Decimal::ZERO; 12];
    for r in &t.rows {
        if !keep(r) {
            continue;
        }
        if let (Some(time), Some(v)) = (t.get(r, "time_utc").time(), t.get(r, value_col).num()) {
            out[time.month0() as usize] += v;
        }
    }
    out
}

fn charts(h: &mut String, i: &Inputs) {
    let ccy = i.meta.currency.as_str();
    h.push_str("<h2>Charts</h2>\n<div class=\"charts\">");
    let months: Vec<String> = MONTHS.iter().map(|m| (*m).to_owned()).collect();
    // Holdings: the files hold start and end units, and a value at the end only.
    match i.gains.and_then(|g| g.holdings.as_ref()) {
        Some(t) => {
            let mut by_asset: BTreeMap<String, Decimal> = BTreeMap::new();
            for r in &t.rows {
                if let Some(v) = t.get(r, "value_end").num().filter(|v| *v > Decimal::ZERO) {
                    *by_asset.entry(t.get(r, "crypto_asset").text().to_owned()).or_default() += v;
                }
            }
            let parts: Vec<(String, Decimal)> = by_asset.into_iter().collect();
            stacked(
                h,
                "chart-holdings",
                "Holdings value at the end of the period, per asset",
                &parts,
                ccy,
                &format!(
                    "The holdings file holds units at the start and the end of the period and a value at its end only, so this shows the end, stacked per asset; assets without a price are left out. Source: {}, columns crypto_asset, value_end.",
                    t.file_name()
                ),
            );
        }
        None => h.push_str("<figure id=\"chart-holdings\"><figcaption>Holdings value</figcaption><p class=\"sub\">No holdings file: gains were not computed.</p></figure>"),
    }
    let tx = &i.carf.transactions;
    let element = |r: &[Cell]| tx.get(r, "element").text().to_owned();
    let acq = monthly(tx, "amount", |r| {
        matches!(element(r).as_str(), "CryptoFiatIn" | "CryptoToCryptoIn")
    });
    let disp = monthly(tx, "amount", |r| {
        matches!(element(r).as_str(), "CryptoFiatOut" | "CryptoToCryptoOut")
    });
    bar_chart(
        h,
        "chart-monthly",
        "Acquisitions and disposals per month",
        &months,
        &[("acquisitions", acq), ("disposals", disp)],
        ccy,
        &format!(
            "Sum of amount per month of time_utc: acquisitions are the CryptoFiatIn and CryptoToCryptoIn rows, disposals the CryptoFiatOut and CryptoToCryptoOut rows. Source: {}, columns time_utc, element, amount.",
            tx.file_name()
        ),
    );
    if let Some(g) = i.gains {
        let s = &g.summary;
        let rows: Vec<&Vec<Cell>> = s
            .rows
            .iter()
            .filter(|r| s.get(r, "crypto_asset").text() != "TOTAL")
            .collect();
        let cats: Vec<String> = rows
            .iter()
            .map(|r| s.get(r, "crypto_asset").text().to_owned())
            .collect();
        let col = |c: &str| {
            rows.iter()
                .map(|r| s.get(r, c).num().unwrap_or_default())
                .collect::<Vec<_>>()
        };
        bar_chart(
            h,
            "chart-gains",
            "Gains and losses per asset",
            &cats,
            &[("gains", col("gains")), ("losses", col("losses"))],
            ccy,
            &format!(
                "Source: {}, columns crypto_asset, gains, losses (losses are written as positive numbers).",
                s.file_name()
            ),
        );
        match &g.income {
            Some(t) => bar_chart(
                h,
                "chart-income",
                "Income per month",
                &months,
                &[("income", monthly(t, "value", |_| true))],
                ccy,
                &format!("Sum of value per month of time_utc. Source: {}, columns time_utc, value.", t.file_name()),
            ),
            None => h.push_str("<figure id=\"chart-income\"><figcaption>Income per month</figcaption><p class=\"sub\">No income file.</p></figure>"),
        }
    }
    h.push_str("</div>");
}
