//! How a run's summary (`summary.rs`) is told: text for people, JSON for scripts, and a
//! single self-contained HTML report with inline SVG charts and no script at all.

use std::fmt::Write as _;

use super::chart::{chart, esc, n};
use super::summary::{Sample, Summary};

/// Steps in the order a visitor takes them.
const STEP_ORDER: [&str; 4] = ["join", "wait", "detail", "book"];

/// Milliseconds as seconds with one decimal.
fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

impl Summary {
    /// The summary as pretty JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Rows of the summary table: key, label, value, note.
    fn rows(&self) -> Vec<(&'static str, &'static str, String, String)> {
        let oversold = match self.oversold {
            Some(0) => ("0".to_string(), "ok".to_string()),
            Some(v) => (n(v), "OVERSOLD: the site sold more than it has".to_string()),
            None => ("?".to_string(), "capacity unknown".to_string()),
        };
        let errors = self
            .errors
            .iter()
            .map(|(k, v)| format!("{k}: {}", n(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        vec![
            (
                "visitors",
                "visitors",
                n(self.visitors),
                format!("{} arrived", n(self.arrived)),
            ),
            (
                "joined",
                "joined",
                n(self.joined),
                format!("{} put in line", n(self.waited)),
            ),
            ("admitted", "admitted", n(self.admitted), String::new()),
            (
                "booked",
                "booked",
                n(self.booked),
                format!("{} units", n(self.units)),
            ),
            ("sold_out", "sold out", n(self.sold_out), String::new()),
            (
                "seat_taken",
                "seats taken",
                n(self.seat_taken),
                String::new(),
            ),
            ("abandoned", "abandoned", n(self.abandoned), String::new()),
            ("closed", "room closed", n(self.closed), String::new()),
            ("timed_out", "timed out", n(self.timed_out), String::new()),
            ("errors", "errors", n(self.errors_total), errors),
            ("oversold", "oversold", oversold.0, oversold.1),
        ]
    }

    /// Latency rows in step order: count, p50, p90, p99, max.
    fn steps(&self) -> impl Iterator<Item = (&'static str, [String; 5])> + '_ {
        STEP_ORDER.iter().filter_map(|s| {
            let p = self.latency.get(*s)?;
            Some((*s, [p.count, p.p50, p.p90, p.p99, p.max].map(n)))
        })
    }

    /// The event line: id, title, kind and capacity.
    fn event_line(&self) -> String {
        match &self.event {
            Some(e) => format!(
                "event {} \"{}\" ({}, capacity {})",
                e.id,
                e.title,
                e.kind,
                n(e.capacity)
            ),
            None => "event: never read (nobody got in)".into(),
        }
    }

    /// The summary for a terminal.
    pub fn text(&self) -> String {
        let mut out = format!(
            "usher rush: {} visitors → {} ({})\n{}\n\n",
            n(self.visitors),
            self.target,
            self.arrival,
            self.event_line()
        );
        for (_, label, value, note) in self.rows() {
            let _ = writeln!(out, "  {label:<12} {value:>9}   {note}");
        }
        let _ = writeln!(
            out,
            "\n  reconnects {}, two tabs {}, challenges {}, polls {}, requests {}, retries {}",
            n(self.reconnected),
            n(self.tabs),
            n(self.challenges),
            n(self.polls),
            n(self.requests),
            n(self.retries)
        );
        let head: String = ["count", "p50", "p90", "p99", "max"]
            .iter()
            .map(|c| format!("{c:>9}"))
            .collect();
        let _ = writeln!(out, "\n  {:<10}{head}", "latency ms");
        for (step, cells) in self.steps() {
            let cells: String = cells.iter().map(|c| format!("{c:>9}")).collect();
            let _ = writeln!(out, "  {step:<10}{cells}");
        }
        out.push('\n');
        if let Some(ms) = self.sold_out_after_ms {
            let _ = writeln!(out, "  first arrival → sold out: {}", secs(ms));
        }
        if let Some(ms) = self.opened_after_ms {
            let _ = writeln!(out, "  first arrival → sale opened: {}", secs(ms));
        }
        if let Some(ms) = self.sold_out_after_open_ms {
            let _ = writeln!(out, "  sale opened → sold out: {}", secs(ms));
        }
        let _ = writeln!(out, "  took {}", secs(self.duration_ms));
        out
    }

    /// The report: one HTML file, styles and charts inline.
    pub fn html(&self) -> String {
        let verdict = match self.oversold {
            Some(0) => ("ok", "0 oversold".to_string()),
            Some(v) => ("bad", format!("{} OVERSOLD", n(v))),
            None => ("unknown", "capacity unknown".to_string()),
        };
        let sold = self.event.as_ref().map_or(String::new(), |e| {
            format!(" — {} of {} sold", n(self.units), n(e.capacity))
        });
        let mut cards = String::new();
        let sold_after = self.sold_out_after_open_ms.map_or("—".into(), secs);
        for (label, value) in [
            ("visitors", n(self.visitors)),
            ("admitted", n(self.admitted)),
            ("booked", n(self.booked)),
            ("sold out", n(self.sold_out)),
            ("abandoned", n(self.abandoned)),
            ("errors", n(self.errors_total)),
            ("sold out after opening", sold_after),
            ("run", secs(self.duration_ms)),
        ] {
            let _ = write!(
                cards,
                "<div class=\"card\"><b>{}</b><span>{label}</span></div>",
                esc(&value)
            );
        }
        let mut table = String::new();
        for (key, label, value, note) in self.rows() {
            let _ = write!(
                table,
                "<tr><th>{label}</th><td id=\"{key}\">{}</td><td>{}</td></tr>",
                esc(&value),
                esc(&note)
            );
        }
        let mut latency = String::new();
        for (step, cells) in self.steps() {
            let cells: String = cells.iter().map(|c| format!("<td>{c}</td>")).collect();
            let _ = write!(latency, "<tr><th>{step}</th>{cells}</tr>");
        }
        let t = &self.timeline;
        let series = |f: fn(&Sample) -> Option<u64>| -> Vec<Option<f64>> {
            t.iter().map(|s| f(s).map(|v| v as f64)).collect()
        };
        let queue = chart(
            "Queue length",
            t,
            &[
                (
                    "in line (rehearsal visitors)",
                    "#2563eb",
                    series(|s| Some(s.waiting)),
                ),
                ("line reported by usher", "#f59e0b", series(|s| s.line)),
            ],
        );
        let admissions = chart(
            "Admissions per second",
            t,
            &[("admitted", "#16a34a", series(|s| Some(s.admitted)))],
        );
        let bookings = chart(
            "Bookings per second",
            t,
            &[
                ("booked", "#7c3aed", series(|s| Some(s.booked))),
                ("sold out", "#dc2626", series(|s| Some(s.sold_out))),
            ],
        );
        let shares = self
            .shares
            .iter()
            .map(|(k, v)| format!("{k} {:.0}%", v * 100.0))
            .collect::<Vec<_>>()
            .join(", ");
        fill(
            include_str!("report.html"),
            &[
                ("title", &esc(&format!("usher rush — {}", self.target))),
                (
                    "sub",
                    &esc(&format!(
                        "{} visitors, {}, {shares}",
                        n(self.visitors),
                        self.arrival
                    )),
                ),
                ("event", &esc(&self.event_line())),
                ("verdict_class", verdict.0),
                ("verdict", &esc(&format!("{}{sold}", verdict.1))),
                ("cards", &cards),
                ("queue", &queue),
                ("admissions", &admissions),
                ("bookings", &bookings),
                ("table", &table),
                ("latency", &latency),
                ("version", env!("CARGO_PKG_VERSION")),
            ],
        )
    }
}

/// `template` with each `{{name}}` replaced by its value, in one pass (a value is never
/// searched for placeholders).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let value = after.find("}}").and_then(|j| {
            let key = &after[..j];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v, j + 2))
        });
        match value {
            Some((v, skip)) => {
                out.push_str(v);
                rest = &after[skip..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
