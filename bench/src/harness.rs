//! The measuring harness: repetitions, medians, the Markdown table and the JSON file.
//!
//! A workload describes its systems as [`Case`]s, each a closure that runs the workload
//! once and returns the time it measured. [`measure`] runs one untimed warm-up of every
//! case, then `reps` rounds that take the cases in turn (interleaving keeps slow drift
//! of the machine, such as thermal throttling, from favouring whichever system runs
//! first), and reports each case's median, minimum and maximum.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// How a run was asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    /// `--quick`: sizes divided by ten, fewer repetitions.
    pub(crate) quick: bool,
    /// Timed repetitions per case; the median is reported.
    pub(crate) reps: usize,
}

impl Config {
    /// Full runs: five repetitions at the sizes of `BENCHMARKS.md`.
    pub(crate) const FULL: Config = Config {
        quick: false,
        reps: 5,
    };

    /// `--quick` runs: three repetitions at a tenth of the size.
    pub(crate) const QUICK: Config = Config {
        quick: true,
        reps: 3,
    };

    /// The size to run: `full`, or a tenth of it with `--quick`.
    pub(crate) fn size(&self, full: u64) -> u64 {
        if self.quick { (full / 10).max(1) } else { full }
    }

    /// A note saying how a figure was obtained, for the notes column.
    pub(crate) fn method(&self) -> String {
        let scale = if self.quick {
            ", quick (1/10 size)"
        } else {
            ""
        };
        format!("median of {}{scale}", self.reps)
    }
}

/// One registered workload of `BENCHMARKS.md`.
#[derive(Debug)]
pub(crate) struct Workload {
    /// Its id, `W1` to `W11`.
    pub(crate) id: &'static str,
    /// One line saying what it measures.
    pub(crate) title: &'static str,
    /// Runs it and returns its table rows and target verdicts.
    pub(crate) run: fn(&Config) -> Report,
}

/// What a workload hands back.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// One row per system (and per variant).
    pub(crate) rows: Vec<Row>,
    /// One line per performance target of the design, saying whether it was met.
    pub(crate) verdicts: Vec<String>,
}

/// One line of the table and one object of `results.json`.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The workload id, e.g. `W9`.
    pub(crate) workload: &'static str,
    /// What was measured: this workspace's type or a peer.
    pub(crate) system: String,
    /// The figure (a median).
    pub(crate) value: f64,
    /// The figure's unit, e.g. `items/s`.
    pub(crate) unit: &'static str,
    /// Ratio to the baseline, target verdict, spread, method.
    pub(crate) notes: String,
}

/// One system under test: a name and a closure running the workload once.
pub(crate) struct Case<'a> {
    /// The system's name as shown in the table.
    pub(crate) system: String,
    /// Runs the workload once and returns the time it measured.
    pub(crate) run: Box<dyn FnMut() -> Duration + 'a>,
}

impl std::fmt::Debug for Case<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("system", &self.system)
            .finish_non_exhaustive()
    }
}

impl<'a> Case<'a> {
    /// A case named `system` that runs `run`.
    pub(crate) fn new(system: impl Into<String>, run: impl FnMut() -> Duration + 'a) -> Self {
        Case {
            system: system.into(),
            run: Box::new(run),
        }
    }
}

/// The timings of one case over its repetitions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stats {
    /// The median repetition.
    pub(crate) median: Duration,
    /// The fastest repetition.
    pub(crate) min: Duration,
    /// The slowest repetition.
    pub(crate) max: Duration,
    /// Every repetition, in round order (round `i` of every case of one `measure`
    /// ran back to back).
    pub(crate) runs: Vec<Duration>,
}

impl Stats {
    /// The statistics of a non-empty set of timings. With an even count the median is
    /// the mean of the two middle values.
    pub(crate) fn of(times: &[Duration]) -> Stats {
        assert!(!times.is_empty(), "no timings");
        let mut sorted = times.to_vec();
        sorted.sort_unstable();
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[mid]
        } else {
            (sorted[mid - 1] + sorted[mid]) / 2
        };
        Stats {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            runs: times.to_vec(),
        }
    }

    /// How many times faster this case ran than `baseline`, paired by round: the
    /// median of `baseline`'s time over this case's time in each round. Rounds run
    /// every case back to back, so a pair shares the machine's state of the moment and
    /// the ratio cancels drift (another process, a frequency change) that a ratio of
    /// two separate medians keeps.
    pub(crate) fn paired_speedup(&self, baseline: &Stats) -> f64 {
        let ratios: Vec<Duration> = self
            .runs
            .iter()
            .zip(&baseline.runs)
            .map(|(mine, theirs)| {
                // Through a Duration so `Stats::of` gives the median; nanosecond
                // precision of the ratio is plenty.
                Duration::from_nanos((theirs.as_secs_f64() / mine.as_secs_f64() * 1e9) as u64)
            })
            .collect();
        Stats::of(&ratios).median.as_secs_f64()
    }
}

/// The section a run adds to the Markdown history: a heading naming the machine and
/// how the figures were taken, the table, and the verdicts.
pub(crate) fn history_entry(machine: &str, config: &Config, report: &Report) -> String {
    let mut entry = format!(
        "## Run of {machine} (`cargo xtask bench`, {})\n\n{}",
        config.method(),
        markdown_table(&report.rows)
    );
    if !report.verdicts.is_empty() {
        entry.push('\n');
        for verdict in &report.verdicts {
            entry.push_str(&format!("- {verdict}\n"));
        }
    }
    entry.push('\n');
    entry
}

/// Files `entry` in the Markdown history at `path` as its newest run: just before the
/// first dated section, that is after the document's introduction (its title and the
/// first `## ` section, which says how to run); at the end if there is no such place.
///
/// # Errors
///
/// The file cannot be read or written.
pub(crate) fn record_run(path: &std::path::Path, entry: &str) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    std::fs::write(path, with_entry(&text, entry))
}

/// `text` with `entry` inserted before its second `## ` heading (see [`record_run`]).
fn with_entry(text: &str, entry: &str) -> String {
    let second_heading = text
        .match_indices("## ")
        .map(|(at, _)| at)
        .filter(|&at| at == 0 || text.as_bytes()[at - 1] == b'\n')
        .nth(1);
    match second_heading {
        Some(at) => format!("{}{entry}{}", &text[..at], &text[at..]),
        None => {
            let sep = if text.ends_with('\n') { "\n" } else { "\n\n" };
            format!("{text}{sep}{entry}")
        }
    }
}

/// Runs every case once untimed, then `config.reps` interleaved rounds; returns each
/// case's statistics in the order given. Progress goes to stderr.
///
/// Each round starts one case further along (round 2 runs cases 2, 3, ..., 1), so no
/// case always follows the same neighbour: what a case leaves behind (a freed heap, a
/// cold cache, a core at another frequency) falls on every case in turn.
pub(crate) fn measure(config: &Config, cases: &mut [Case<'_>]) -> Vec<Stats> {
    for case in cases.iter_mut() {
        eprintln!("  warm-up   {}", case.system);
        (case.run)();
    }
    let mut times = vec![Vec::with_capacity(config.reps); cases.len()];
    for rep in 1..=config.reps {
        eprint!("  round {rep}/{}", config.reps);
        for i in 0..cases.len() {
            let index = (i + rep - 1) % cases.len();
            times[index].push((cases[index].run)());
            eprint!(".");
        }
        eprintln!();
    }
    times.iter().map(|t| Stats::of(t)).collect()
}

/// Formats a figure for the table: thousands separators for large values, three
/// significant digits for small ones (a W5 time of 0.0553 s must not read `0.1`).
pub(crate) fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() >= 1000.0 {
        let digits = format!("{:.0}", value.abs());
        let mut grouped = String::new();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        if value < 0.0 {
            grouped.insert(0, '-');
        }
        grouped
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else if value == 0.0 {
        String::from("0")
    } else {
        // Three significant digits: 0.0553, 0.221.
        let decimals = 2 - value.abs().log10().floor() as i32;
        format!("{value:.*}", decimals.max(0) as usize)
    }
}

/// The rows as a Markdown table.
pub(crate) fn markdown_table(rows: &[Row]) -> String {
    let mut table = String::from(
        "| workload | system | value | unit | notes |\n| --- | --- | ---: | --- | --- |\n",
    );
    for row in rows {
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} |",
            row.workload,
            escape_cell(&row.system),
            format_value(row.value),
            row.unit,
            escape_cell(&row.notes)
        );
    }
    table
}

/// Escapes the pipe characters that would end a Markdown table cell.
fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The rows as a JSON array of `{"workload", "system", "value", "unit", "notes"}` objects.
pub(crate) fn json(rows: &[Row]) -> String {
    let mut out = String::from("[");
    for (i, row) in rows.iter().enumerate() {
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        let value = if row.value.is_finite() {
            // `Display` for f64 never uses an exponent, so this is a valid JSON number.
            row.value.to_string()
        } else {
            String::from("null")
        };
        let _ = write!(
            out,
            "{{\"workload\": {}, \"system\": {}, \"value\": {value}, \"unit\": {}, \"notes\": {}}}",
            json_string(row.workload),
            json_string(&row.system),
            json_string(row.unit),
            json_string(&row.notes)
        );
    }
    out.push_str(if rows.is_empty() { "]\n" } else { "\n]\n" });
    out
}

/// A JSON string literal for `text`.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `results.json`, creating its directory.
pub(crate) fn write_json(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, json(rows))
}

/// A report as text lines, for a workload run in a child process of its own:
/// `row<TAB>WORKLOAD<TAB>SYSTEM<TAB>VALUE<TAB>UNIT<TAB>NOTES` and `verdict<TAB>TEXT`. Tabs
/// and line breaks inside the text become spaces.
pub(crate) fn report_lines(report: &Report) -> String {
    let clean = |text: &str| text.replace(['\t', '\n', '\r'], " ");
    let mut out = String::new();
    for row in &report.rows {
        let _ = writeln!(
            out,
            "row\t{}\t{}\t{}\t{}\t{}",
            clean(row.workload),
            clean(&row.system),
            row.value,
            clean(row.unit),
            clean(&row.notes)
        );
    }
    for verdict in &report.verdicts {
        let _ = writeln!(out, "verdict\t{}", clean(verdict));
    }
    out
}

/// Reads [`report_lines`] back. `workload` maps an id to its static name.
pub(crate) fn parse_report_lines(
    text: &str,
    workload: impl Fn(&str) -> Option<&'static str>,
) -> Result<Report, String> {
    let mut report = Report::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["row", id, system, value, unit, notes] => report.rows.push(Row {
                workload: workload(id).ok_or_else(|| format!("unknown workload `{id}`"))?,
                system: (*system).to_owned(),
                value: value
                    .parse()
                    .map_err(|e| format!("bad value `{value}`: {e}"))?,
                // Units are a handful of short literals; a child's are kept for the run.
                unit: Box::leak((*unit).to_owned().into_boxed_str()),
                notes: (*notes).to_owned(),
            }),
            ["verdict", text] => report.verdicts.push((*text).to_owned()),
            _ => return Err(format!("unreadable report line `{line}`")),
        }
    }
    Ok(report)
}

/// The ratio to its baseline a row's notes begin with: `2.50x ...`, `1/85 of ...`, or
/// `baseline` (1.0). `None` for rows that state none.
pub(crate) fn ratio_from_notes(notes: &str) -> Option<f64> {
    let first = notes.split([' ', ';']).next()?;
    if first.starts_with("baseline") {
        return Some(1.0);
    }
    if let Some(n) = first.strip_prefix("1/") {
        return n.parse::<f64>().ok().filter(|n| *n > 0.0).map(|n| 1.0 / n);
    }
    first
        .strip_suffix('x')?
        .parse::<f64>()
        .ok()
        .filter(|r| *r > 0.0)
}

/// An SVG chart of every row's ratio to its workload's baseline, one bar per row on a
/// log scale centred on 1x (left of the line: smaller than the baseline's figure).
pub(crate) fn ratios_svg(rows: &[Row]) -> String {
    const ROW_H: f64 = 22.0;
    const LABEL_W: f64 = 520.0;
    const PLOT_W: f64 = 420.0;
    const DECADES: f64 = 4.0; // 1/10,000x .. 10,000x
    let bars: Vec<(&Row, f64)> = rows
        .iter()
        .filter_map(|r| ratio_from_notes(&r.notes).map(|ratio| (r, ratio)))
        .collect();
    let height = ROW_H * (bars.len() as f64 + 2.0);
    let width = LABEL_W + PLOT_W + 90.0;
    let centre = LABEL_W + PLOT_W / 2.0;
    let scale = PLOT_W / 2.0 / DECADES;
    let esc = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"monospace\" font-size=\"12\">"
    );
    let _ = writeln!(
        out,
        "<text x=\"{centre}\" y=\"14\" text-anchor=\"middle\">ratio to the workload's \
         baseline (log scale; 1x at the line)</text>"
    );
    let _ = writeln!(
        out,
        "<line x1=\"{centre}\" y1=\"{ROW_H}\" x2=\"{centre}\" y2=\"{height}\" stroke=\"black\"/>"
    );
    for (i, (row, ratio)) in bars.iter().enumerate() {
        let y = ROW_H * (i as f64 + 1.0);
        let len = (ratio.log10().clamp(-DECADES, DECADES) * scale).abs();
        let x = if *ratio >= 1.0 { centre } else { centre - len };
        let colour = if *ratio >= 1.0 { "#c0504d" } else { "#4f81bd" };
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} {}</text>",
            LABEL_W - 8.0,
            y + 15.0,
            esc(row.workload),
            esc(&row.system)
        );
        let _ = writeln!(
            out,
            "<rect x=\"{x:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{colour}\"/>",
            y + 4.0,
            len.max(1.0),
            ROW_H - 8.0
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\">{ratio:.3}x</text>",
            LABEL_W + PLOT_W + 6.0,
            y + 15.0
        );
    }
    out.push_str("</svg>\n");
    out
}

/// This machine and this moment, for the record of a run: `2026-12-07 03:12 UTC, <CPU
/// model>, N cores`.
pub(crate) fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| String::from("unknown CPU"));
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{} UTC, {cpu}, {cores} cores", utc_minute(secs))
}

/// `YYYY-MM-DD HH:MM` for a Unix time (the civil-from-days algorithm).
fn utc_minute(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (hour, minute) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

/// Says whether `ratio` is within `bar`, and by how much.
pub(crate) fn at_most(ratio: f64, bar: f64) -> String {
    let margin = (1.0 - ratio / bar) * 100.0;
    if ratio <= bar {
        format!("met, {margin:.0}% under the bar")
    } else {
        format!("MISSED, {:.0}% over the bar", -margin)
    }
}

/// Says whether `ratio` reaches `bar`, and by how much.
pub(crate) fn at_least(ratio: f64, bar: f64) -> String {
    let margin = (ratio / bar - 1.0) * 100.0;
    if ratio >= bar {
        format!("met, {margin:.0}% above the bar")
    } else {
        format!("MISSED, {:.0}% below the bar", -margin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = Stats::of(&[ms(5), ms(1), ms(3)]);
        assert_eq!((s.median, s.min, s.max), (ms(3), ms(1), ms(5)));
        assert_eq!(
            Stats::of(&[ms(4), ms(1), ms(2), ms(3)]).median,
            Duration::from_micros(2500)
        );
        assert_eq!(Stats::of(&[ms(7)]).median, ms(7));
    }

    #[test]
    fn paired_speedup_cancels_drift_between_rounds() {
        // Round 2 ran on a machine twice as slow for both: each pair still says 2x.
        let fast = Stats::of(&[ms(10), ms(20), ms(10)]);
        let slow = Stats::of(&[ms(20), ms(40), ms(20)]);
        assert!((fast.paired_speedup(&slow) - 2.0).abs() < 1e-6);
        assert!((slow.paired_speedup(&fast) - 0.5).abs() < 1e-6);
        // One outlier pair does not move the median.
        let odd = Stats::of(&[ms(10), ms(80), ms(10)]);
        assert!((odd.paired_speedup(&slow) - 2.0).abs() < 1e-6);
    }

    #[test]
    fn a_run_is_filed_as_the_newest_after_the_introduction() {
        let doc = "# Benchmarks\n\nintro\n\n## How to run\n\nrun it\n\n## Old run\n\nold\n";
        let filed = with_entry(doc, "## New run\n\nnew\n\n");
        assert_eq!(
            filed,
            "# Benchmarks\n\nintro\n\n## How to run\n\nrun it\n\n## New run\n\nnew\n\n## Old run\n\nold\n"
        );
        // No dated section yet: at the end.
        assert_eq!(
            with_entry("# B\n\n## How\n", "## R\n"),
            "# B\n\n## How\n\n## R\n"
        );
        let entry = history_entry(
            "2026-12-07 10:00 UTC, CPU, 2 cores",
            &Config::QUICK,
            &Report {
                rows: vec![],
                verdicts: vec!["W9 target: met".into()],
            },
        );
        assert!(
            entry.starts_with("## Run of 2026-12-07 10:00 UTC, CPU, 2 cores ("),
            "{entry}"
        );
        assert!(entry.contains("- W9 target: met\n"), "{entry}");
    }

    #[test]
    fn values_format_for_reading() {
        assert_eq!(format_value(23_456_789.4), "23,456,789");
        assert_eq!(format_value(1000.0), "1,000");
        assert_eq!(format_value(999.4), "999");
        assert_eq!(format_value(28.345), "28.3");
        assert_eq!(format_value(2.8345), "2.83");
        assert_eq!(format_value(0.22149), "0.221");
        assert_eq!(format_value(0.055349), "0.0553");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(-1234.0), "-1,234");
    }

    #[test]
    fn json_escapes_and_shapes() {
        let rows = [Row {
            workload: "W9",
            system: "a \"quoted\" \\ name".into(),
            value: 1.5,
            unit: "items/s",
            notes: "line\nbreak\u{1}".into(),
        }];
        assert_eq!(
            json(&rows),
            "[\n  {\"workload\": \"W9\", \"system\": \"a \\\"quoted\\\" \\\\ name\", \
             \"value\": 1.5, \"unit\": \"items/s\", \"notes\": \"line\\nbreak\\u0001\"}\n]\n"
        );
        assert_eq!(json(&[]), "[]\n");
        let big = Row {
            value: 1e20,
            ..rows[0].clone()
        };
        assert!(json(&[big]).contains("\"value\": 100000000000000000000,"));
        let nan = Row {
            value: f64::NAN,
            ..rows[0].clone()
        };
        assert!(json(&[nan]).contains("\"value\": null,"));
    }

    #[test]
    fn table_escapes_pipes() {
        let rows = [Row {
            workload: "W10",
            system: "a|b".into(),
            value: 12.0,
            unit: "ns",
            notes: String::new(),
        }];
        assert!(markdown_table(&rows).contains("| W10 | a\\|b | 12.0 | ns |  |"));
    }

    #[test]
    fn measure_runs_warm_up_then_every_round() {
        let mut calls = 0;
        let mut cases = [Case::new("counting", || {
            calls += 1;
            ms(calls)
        })];
        let stats = measure(&Config::QUICK, &mut cases);
        drop(cases);
        assert_eq!(calls, 1 + Config::QUICK.reps as u64);
        assert_eq!(stats[0].median, ms(3), "the warm-up (1 ms) is not counted");
    }

    #[test]
    fn reports_survive_the_trip_through_a_child() {
        let report = Report {
            rows: vec![Row {
                workload: "W1",
                system: "a\tsystem".into(),
                value: 12.5,
                unit: "ns/switch",
                notes: "line\nbreak".into(),
            }],
            verdicts: vec!["W1 target: met".into()],
        };
        let back =
            parse_report_lines(&report_lines(&report), |id| (id == "W1").then_some("W1")).unwrap();
        assert_eq!(back.rows.len(), 1);
        assert_eq!(back.rows[0].system, "a system");
        assert_eq!(back.rows[0].value, 12.5);
        assert_eq!(back.rows[0].unit, "ns/switch");
        assert_eq!(back.rows[0].notes, "line break");
        assert_eq!(back.verdicts, ["W1 target: met"]);
        assert!(parse_report_lines("nonsense", |_| None).is_err());
        assert!(parse_report_lines("row\tW9\ts\t1\tu\tn", |_| None).is_err());
    }

    #[test]
    fn ratios_are_read_from_the_notes() {
        assert_eq!(ratio_from_notes("baseline; runs 1-2"), Some(1.0));
        assert_eq!(ratio_from_notes("2.50x baseline; target"), Some(2.5));
        assert_eq!(ratio_from_notes("1/4 of baseline"), Some(0.25));
        assert_eq!(ratio_from_notes("0.78x crossbeam"), Some(0.78));
        assert_eq!(ratio_from_notes("median of 5"), None);
        assert_eq!(ratio_from_notes(""), None);
    }

    #[test]
    fn the_chart_has_a_bar_per_row_with_a_ratio() {
        let row = |system: &str, notes: &str| Row {
            workload: "W1",
            system: system.into(),
            value: 1.0,
            unit: "ns",
            notes: notes.into(),
        };
        let svg = ratios_svg(&[
            row("a <b>", "baseline"),
            row("c", "12.5x baseline"),
            row("d", "no ratio here"),
        ]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("a &lt;b&gt;"), "labels are escaped");
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00");
        assert_eq!(utc_minute(1_796_613_120), "2026-12-07 03:12");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00");
    }
}
