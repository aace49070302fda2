//! The demo's pictures: when each thread, greenlet and process of a scenario was busy.
//!
//! The examples record spans (`examples::timeline`) to a file the demo names in
//! `CONC_DEMO_TIMELINE`, one `lane<TAB>what<TAB>start_ns<TAB>end_ns` line each. Here they
//! are read back and drawn twice: as text in the terminal (one row per lane, time
//! across) and as one SVG with a panel per scenario (`target/demo/timeline.svg`), with
//! an index page (`target/demo/index.html`) linking the panels.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The variable the examples read (see `examples::timeline`).
pub(crate) const TIMELINE_VAR: &str = "CONC_DEMO_TIMELINE";

/// One busy stretch of a lane.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanRec {
    pub(crate) lane: String,
    pub(crate) what: String,
    pub(crate) start: u128,
    pub(crate) end: u128,
}

/// A scenario's spans, for the SVG.
#[derive(Debug)]
pub(crate) struct Panel {
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) spans: Vec<SpanRec>,
}

/// Reads the spans a scenario recorded; malformed lines (a writer killed mid-line) are
/// skipped.
pub(crate) fn parse(text: &str) -> Vec<SpanRec> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let (lane, what, start, end) = (f.next()?, f.next()?, f.next()?, f.next()?);
            let (start, end): (u128, u128) = (start.parse().ok()?, end.parse().ok()?);
            (f.next().is_none() && start <= end).then(|| SpanRec {
                lane: lane.to_owned(),
                what: what.to_owned(),
                start,
                end,
            })
        })
        .collect()
}

/// The lanes in order of first activity, each with its spans.
fn lanes(spans: &[SpanRec]) -> Vec<(&str, Vec<&SpanRec>)> {
    let mut by_lane: BTreeMap<&str, Vec<&SpanRec>> = BTreeMap::new();
    for s in spans {
        by_lane.entry(&s.lane).or_default().push(s);
    }
    let mut lanes: Vec<(&str, Vec<&SpanRec>)> = by_lane.into_iter().collect();
    lanes.sort_by_key(|(_, spans)| spans.iter().map(|s| s.start).min());
    lanes
}

/// The time covered: first start, last end.
fn extent(spans: &[SpanRec]) -> (u128, u128) {
    let start = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end).max().unwrap_or(start);
    (start, end.max(start + 1))
}

/// A text timeline: one row per lane, `width` columns of time, `#` where it was busy.
pub(crate) fn terminal(spans: &[SpanRec], width: usize) -> String {
    let (t0, t1) = extent(spans);
    let span_ns = t1 - t0;
    let lanes = lanes(spans);
    let label_width = lanes
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(2, 28);
    let mut out = String::new();
    for (lane, spans) in &lanes {
        let mut row = vec![' '; width];
        for s in spans {
            let a = ((s.start - t0) * width as u128 / span_ns) as usize;
            let b = (((s.end - t0) * width as u128).div_ceil(span_ns) as usize).clamp(a + 1, width);
            for cell in &mut row[a.min(width - 1)..b] {
                *cell = '#';
            }
        }
        // Keep the end of a long name: it is what tells lanes apart (`…-0_3`).
        let chars: Vec<char> = lane.chars().collect();
        let label: String = if chars.len() > label_width {
            std::iter::once('…')
                .chain(chars[chars.len() - (label_width - 1)..].iter().copied())
                .collect()
        } else {
            lane.to_string()
        };
        let pad = label_width.saturating_sub(label.chars().count());
        let _ = writeln!(
            out,
            "  {}{label} |{}|",
            " ".repeat(pad),
            row.iter().collect::<String>()
        );
    }
    let _ = writeln!(
        out,
        "  {:>label_width$}  0{:>w$}",
        "",
        format!("{:.1} ms", span_ns as f64 / 1e6),
        w = width
    );
    out
}

/// Escapes text for XML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const LABEL_W: f64 = 230.0;
const PLOT_W: f64 = 640.0;
const LANE_H: f64 = 18.0;
const TITLE_H: f64 = 40.0;

/// One SVG, a panel per scenario (an `<g id="NAME">` each), stacked.
pub(crate) fn svg(panels: &[Panel]) -> String {
    let height: f64 = panels
        .iter()
        .map(|p| TITLE_H + LANE_H * lanes(&p.spans).len() as f64 + 16.0)
        .sum::<f64>()
        .max(1.0);
    let width = LABEL_W + PLOT_W + 20.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">"
    );
    let mut y = 0.0;
    for panel in panels {
        let lanes = lanes(&panel.spans);
        let (t0, t1) = extent(&panel.spans);
        let scale = PLOT_W / (t1 - t0) as f64;
        let _ = writeln!(out, "<g id=\"{}\" class=\"scenario\">", esc(&panel.name));
        let _ = writeln!(
            out,
            "<text x=\"4\" y=\"{:.1}\" font-weight=\"bold\">{} ({}, {:.1} ms)</text>",
            y + 16.0,
            esc(&panel.title),
            esc(&panel.name),
            (t1 - t0) as f64 / 1e6
        );
        for (i, (lane, spans)) in lanes.iter().enumerate() {
            let ly = y + TITLE_H + LANE_H * i as f64;
            let _ = writeln!(out, "<g class=\"lane\" data-lane=\"{}\">", esc(lane));
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                LABEL_W - 6.0,
                ly + 12.0,
                esc(lane)
            );
            for s in spans {
                let x = LABEL_W + (s.start - t0) as f64 * scale;
                let w = ((s.end - s.start) as f64 * scale).max(1.0);
                let _ = writeln!(
                    out,
                    "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" \
                     fill=\"#4f81bd\"><title>{}</title></rect>",
                    ly + 2.0,
                    LANE_H - 4.0,
                    esc(&s.what)
                );
            }
            out.push_str("</g>\n");
        }
        out.push_str("</g>\n");
        y += TITLE_H + LANE_H * lanes.len() as f64 + 16.0;
    }
    out.push_str("</svg>\n");
    out
}

/// The index page: one link per panel of `timeline.svg`, and the picture itself.
pub(crate) fn index_html(panels: &[Panel]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>conc demo timelines\
         </title></head><body>\n<h1>conc demo: who ran when</h1>\n<ul>\n",
    );
    for p in panels {
        let _ = writeln!(
            out,
            "<li><a href=\"timeline.svg#{}\">{}</a>: {} lanes</li>",
            esc(&p.name),
            esc(&p.title),
            lanes(&p.spans).len()
        );
    }
    out.push_str(
        "</ul>\n<img src=\"timeline.svg\" alt=\"timelines of every scenario\">\n</body></html>\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(lane: &str, start: u128, end: u128) -> SpanRec {
        SpanRec {
            lane: lane.into(),
            what: "work <1>".into(),
            start,
            end,
        }
    }

    #[test]
    fn spans_parse_and_bad_lines_are_skipped() {
        let text = "a\tx\t10\t20\nbroken line\nb\ty\t30\t25\nc\tz\t5\t6\textra\nd\tw\t1\t2\n";
        let spans = parse(text);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0], span_with("a", "x", 10, 20));
        assert_eq!(spans[1].lane, "d");
    }

    fn span_with(lane: &str, what: &str, start: u128, end: u128) -> SpanRec {
        SpanRec {
            lane: lane.into(),
            what: what.into(),
            start,
            end,
        }
    }

    #[test]
    fn the_terminal_timeline_has_a_row_per_lane_ordered_by_first_activity() {
        let spans = [
            span("late", 50, 100),
            span("early", 0, 50),
            span("early", 60, 70),
        ];
        let text = terminal(&spans, 10);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 3, "two lanes and the scale:\n{text}");
        assert!(rows[0].contains("early |#####"), "{text}");
        assert!(rows[1].contains("late |     #####|"), "{text}");
    }

    #[test]
    fn long_lane_names_keep_their_distinguishing_end() {
        let long = "thread ThreadPoolExecutor-0_12";
        let text = terminal(&[span(long, 0, 10)], 4);
        let row = text.lines().next().unwrap();
        assert!(row.trim_start().starts_with('…'), "{text}");
        assert!(row.ends_with("Executor-0_12 |####|"), "{text}");
    }

    #[test]
    fn the_svg_parses_and_holds_one_lane_per_worker() {
        let panels = [
            Panel {
                name: "threads".into(),
                title: "Threads & <parallel>".into(),
                spans: vec![span("t1", 0, 10), span("t2", 2, 12), span("t1", 11, 20)],
            },
            Panel {
                name: "greenlets".into(),
                title: "Greenlets".into(),
                spans: vec![span("g1", 0, 1), span("g2", 1, 2), span("g3", 2, 3)],
            },
        ];
        let text = svg(&panels);
        let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
        let lanes_of = |id: &str| {
            let panel = doc
                .descendants()
                .find(|n| n.attribute("id") == Some(id))
                .expect("a panel per scenario");
            panel
                .children()
                .filter(|n| n.attribute("class") == Some("lane"))
                .map(|n| n.attribute("data-lane").unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(lanes_of("threads"), ["t1", "t2"]);
        assert_eq!(lanes_of("greenlets"), ["g1", "g2", "g3"]);
        assert_eq!(
            doc.descendants().filter(|n| n.has_tag_name("rect")).count(),
            6
        );
        let html = index_html(&panels);
        assert!(
            html.contains("timeline.svg#threads")
                && html.contains("Threads &amp; &lt;parallel&gt;")
        );
    }
}
