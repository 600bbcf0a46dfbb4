//! The report's charts: line charts over the run's seconds as inline SVG (no script, no
//! library, nothing fetched), styled by the report's stylesheet.

use std::fmt::Write as _;

use super::summary::Sample;

/// `1234567` as `1,234,567`.
pub(super) fn n(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Escapes text for HTML.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round number at or above `v` (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten).
fn nice(v: f64) -> f64 {
    let v = v.max(1.0);
    let p = 10f64.powf(v.log10().floor());
    [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

/// A line chart over the samples' seconds as inline SVG, one polyline per series (gaps
/// where a series has no value).
pub(super) fn chart(
    title: &str,
    t: &[Sample],
    series: &[(&str, &str, Vec<Option<f64>>)],
) -> String {
    const W: f64 = 360.0;
    const H: f64 = 170.0;
    const L: f64 = 44.0;
    const B: f64 = 24.0;
    const T: f64 = 22.0;
    const R: f64 = 10.0;
    let t_max = f64::from(t.last().map_or(1, |s| s.t.max(1)));
    let top = nice(
        series
            .iter()
            .flat_map(|(_, _, v)| v.iter().flatten())
            .fold(0.0, |a: f64, b| a.max(*b)),
    );
    let x = |s: u32| L + (W - L - R) * f64::from(s) / t_max;
    let y = |v: f64| H - B - (H - B - T) * v / top;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\"><g class=\"grid\">",
        esc(title)
    );
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{L}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - R,
            L - 4.0,
            y(v) + 3.0,
            n(v.round() as u64),
            y = y(v),
        );
    }
    for i in 0..=4 {
        let s = (t_max * f64::from(i) / 4.0).round() as u32;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{s}s</text>",
            x(s),
            H - 8.0
        );
    }
    svg.push_str("</g>");
    for (i, (name, color, values)) in series.iter().enumerate() {
        let mut d = String::new();
        let mut pen_down = false;
        for (s, v) in t.iter().zip(values) {
            match v {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x(s.t),
                        y(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            svg,
            "<path d=\"{}\" stroke=\"{color}\"/><text class=\"key\" x=\"{}\" y=\"{}\" style=\"fill:{color}\">■ {}</text>",
            d.trim_end(),
            L + 150.0 * i as f64,
            T - 8.0,
            esc(name)
        );
    }
    svg.push_str("</svg>");
    format!(
        "<figure><figcaption>{}</figcaption>{svg}</figure>",
        esc(title)
    )
}

#[cfg(test)]
mod tests;
