//! Assembling the page: markup around the panels, the embedded data, style and script.

use std::fmt::Write as _;

use super::escape::{html, script_json};
use super::{ReportPage, SummaryTable};

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// The complete HTML document of `page`.
///
/// The body starts with `data-status="loading"`; the inline script sets it to `rendered` once
/// the table and the first model's curves are drawn, or to `error` (with the message shown on
/// the page) if anything throws — which is what the headless-browser check reads.
#[must_use]
pub fn render_html(page: &ReportPage) -> String {
    let mut out = String::with_capacity(64 * 1024 + page.panels.iter().map(|p| p.svg.len()).sum::<usize>());
    let title = html(&page.title);
    // `write!` into a String cannot fail.
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"phasezoo {version}\">\n\
         <title>{title} · phasezoo report</title>\n<style>\n{STYLE}</style>\n</head>\n\
         <body data-status=\"loading\">\n<header>\n<h1>{title}</h1>\n",
        version = env!("CARGO_PKG_VERSION"),
    );
    if !page.description.is_empty() {
        let _ = writeln!(out, "<p class=\"description\">{}</p>", html(&page.description));
    }
    out.push_str("<dl class=\"facts\">\n");
    for (k, v) in &page.facts {
        let _ = writeln!(out, "<div><dt>{}</dt><dd>{}</dd></div>", html(k), html(v));
    }
    out.push_str(
        "</dl>\n</header>\n<div id=\"page-error\"></div>\n<nav><a href=\"#panels\">Phase diagram</a>\
         <a href=\"#models\">Models</a><a href=\"#spec\">Spec</a></nav>\n",
    );

    out.push_str("<section id=\"panels\">\n<h2>Phase diagram and metrics</h2>\n<div class=\"panels\">\n");
    for p in &page.panels {
        let _ = writeln!(out, "<figure class=\"panel\" id=\"panel-{}\">", html(&p.name));
        out.push_str(inline_svg(&p.svg));
        let _ = write!(out, "\n<figcaption>{}</figcaption>\n</figure>\n", html(&p.caption));
    }
    if page.panels.is_empty() {
        out.push_str("<p class=\"hint\">No finished model yet: nothing to draw.</p>\n");
    }
    out.push_str("</div>\n</section>\n");
    for t in &page.tables {
        summary_table(&mut out, t);
    }

    out.push_str(
        "<section id=\"models\">\n<h2>Models</h2>\n<p class=\"hint\">Click a column header to sort; \
         click a model to see its training curves.</p>\n<div id=\"curve-title\"></div>\n\
         <div id=\"curves\"></div>\n<div class=\"table-wrap\"><table id=\"model-table\"><thead></thead>\
         <tbody></tbody></table></div>\n</section>\n",
    );
    let _ = write!(
        out,
        "<section id=\"spec\">\n<h2>Spec (zoo.toml)</h2>\n<pre class=\"spec\">{}</pre>\n</section>\n",
        html(&page.spec_toml)
    );

    let data = serde_json::json!({ "table": page.table });
    let _ = write!(
        out,
        "<script type=\"application/json\" id=\"zoo-data\">{}</script>\n<script>\n{SCRIPT}</script>\n</body>\n</html>\n",
        script_json(&data.to_string())
    );
    out
}

/// A [`SummaryTable`] as a section: heading, note, and the table, each value as `mean (n)`.
fn summary_table(out: &mut String, t: &SummaryTable) {
    let _ = write!(
        out,
        "<section class=\"summary\" id=\"table-{}\">\n<h2>{}</h2>\n<p class=\"hint\">{}</p>\n\
         <div class=\"table-wrap\"><table class=\"summary\">\n<thead><tr><th></th>",
        html(&t.id),
        html(&t.title),
        html(&t.note)
    );
    for c in &t.columns {
        let _ = write!(out, "<th>{}</th>", html(c));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (name, cells) in &t.rows {
        let _ = write!(out, "<tr><th>{}</th>", html(name));
        for cell in cells {
            match cell {
                Some((v, n)) => {
                    let _ = write!(
                        out,
                        "<td>{} <span class=\"count\">({n})</span></td>",
                        html(&format_value(*v))
                    );
                }
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n</section>\n");
}

/// Four significant digits, exponent form outside [1e-3, 1e4) (the page script's `fmt`).
fn format_value(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-3..1e4).contains(&a) {
        let digits = if a == 0.0 { 0 } else { (3 - a.log10().floor() as i32).max(0) as usize };
        format!("{v:.digits$}")
    } else {
        format!("{v:.3e}")
    }
}

/// An SVG document as an inline element: an XML declaration, if any, is not allowed there.
fn inline_svg(svg: &str) -> &str {
    let svg = svg.trim_start();
    if svg.starts_with("<?xml") {
        svg.find("?>").map_or(svg, |end| svg[end + 2..].trim_start())
    } else {
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::{Cell, Column, Curves, ModelRow, ModelTable, Panel, SummaryTable};

    fn page() -> ReportPage {
        ReportPage {
            title: "zoo <1>".into(),
            description: "β sweep & friends".into(),
            facts: vec![("models".into(), "2 done of 2".into())],
            spec_toml: "name = \"a</pre>\"\n".into(),
            panels: vec![Panel {
                name: "test_error".into(),
                caption: "final test error".into(),
                svg: "<?xml version=\"1.0\"?>\n<svg viewBox=\"0 0 10 10\"><rect/></svg>".into(),
            }],
            table: ModelTable {
                columns: vec![
                    Column { label: "model_id".into(), numeric: false },
                    Column { label: "test_error".into(), numeric: true },
                ],
                rows: vec![ModelRow {
                    id: "00ff".into(),
                    cells: vec![Cell::Text("00ff</script>".into()), Cell::Number(0.5)],
                    curves: Curves {
                        epochs: vec![0.0, 1.0],
                        series: vec![("train_loss".into(), vec![Some(1.0), None])],
                    },
                    density: Vec::new(),
                    llc_jumps: Vec::new(),
                }],
            },
            tables: vec![SummaryTable {
                id: "phase-deltas".into(),
                title: "mean <per> phase".into(),
                note: "n".into(),
                columns: vec!["ensemble: ensemble_acc_test_delta".into(), "b".into()],
                rows: vec![
                    ("I".into(), vec![Some((0.012346, 3)), None]),
                    ("IV-B".into(), vec![Some((-2.5e-5, 1)), Some((1234.4, 2))]),
                ],
            }],
        }
    }

    #[test]
    fn summary_tables_show_each_value_with_its_count_escaped() {
        let out = render_html(&page());
        assert!(out.contains(
            "<section class=\"summary\" id=\"table-phase-deltas\">\n<h2>mean &lt;per&gt; phase</h2>"
        ));
        assert!(
            out.contains("<tr><th>I</th><td>0.01235 <span class=\"count\">(3)</span></td><td></td></tr>"),
            "{out}"
        );
        assert!(out.contains("<td>-2.500e-5 <span class=\"count\">(1)</span></td><td>1234 <span class=\"count\">(2)</span></td>"), "{out}");
        assert!(
            out.find("table-phase-deltas") < out.find("id=\"models\""),
            "after the panels, before the models"
        );
    }

    #[test]
    fn page_holds_panels_inline_escaped_text_and_parseable_data() {
        let out = render_html(&page());
        assert!(out.starts_with("<!DOCTYPE html>"));
        assert!(out.contains("<figure class=\"panel\" id=\"panel-test_error\">\n<svg viewBox"));
        assert!(!out.contains("<?xml"), "XML declaration stripped from inline SVG");
        assert!(out.contains("<h1>zoo &lt;1&gt;</h1>"));
        assert!(out.contains("name = &quot;a&lt;/pre&gt;&quot;"));
        // Exactly one closing tag per script element: the data cannot end its element early.
        assert_eq!(out.matches("</script>").count(), 2);
        let start = out.find("id=\"zoo-data\">").unwrap() + "id=\"zoo-data\">".len();
        let end = start + out[start..].find("</script>").unwrap();
        let data: serde_json::Value = serde_json::from_str(&out[start..end]).unwrap();
        assert_eq!(data["table"]["rows"][0]["cells"][0], "00ff</script>");
        assert_eq!(data["table"]["rows"][0]["cells"][1], 0.5);
        assert!(data["table"]["rows"][0]["curves"]["series"][0][1][1].is_null());
        assert_eq!(data["table"]["columns"][1]["numeric"], true);
    }

    #[test]
    fn page_needs_nothing_from_the_network() {
        let out = render_html(&page());
        for needle in ["http://", "https://", "src=", "<link"] {
            let hits: Vec<_> =
                out.match_indices(needle).map(|(i, _)| &out[i..(i + 60).min(out.len())]).collect();
            // The only URL is the SVG namespace name inside the script, which is never fetched.
            assert!(hits.iter().all(|h| h.starts_with("http://www.w3.org/2000/svg")), "{needle}: {hits:?}");
        }
    }
}
